"""`tailor eval`, `tailor chat` and `tailor generate` in real processes, and the report in a real browser."""

import json
import os
import re
import shutil
import subprocess

import pytest

from macapp.engine.models import demo
from tests.helpers import tailor

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_eval_prints_the_summary_and_writes_both_reports(run_copy):
    """The demo's run has no test split: it is scored on the held-out comments the demo keeps."""
    result = tailor("eval", "--run", run_copy, "--ends-with", demo.SIGNATURE,
                    "--limit", 6, "--max-tokens", 40, "--checkpoint", "best")
    assert result.returncode == 0, result.stderr[-2000:]
    row = re.search(r"Answer ends with .*?(\d+)%\s+(\d+)%\s+\+(\d+) points", result.stdout)
    assert row and int(row[1]) <= 10 and int(row[2]) >= 90, result.stdout
    assert re.search(r"Loss on the expected answers\s+[\d.]+\s+[\d.]+\s+-[\d.]+", result.stdout), result.stdout
    report = json.loads((run_copy / "report.json").read_text())
    assert len(report["items"]) == 6 and report["adapter"].endswith("best")
    assert report["prompt_set"] == "the demo's held-out comments"
    assert (run_copy / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_eval_of_a_run_without_a_test_split_asks_for_prompts(run_copy):
    manifest = run_copy / "data" / "manifest.json"  # not the demo's data: no comments of its own to score on
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "sources": ["/elsewhere/chats.jsonl"],
                                    "source_sha256": ["0" * 64]}))
    result = tailor("eval", "--run", run_copy)
    assert result.returncode == 2 and "has no test split" in result.stderr and "Traceback" not in result.stderr
    assert not (run_copy / "report.json").exists()  # nothing written


@pytest.mark.parametrize("flags, message", [
    (["--prompts", "nowhere.jsonl"], "nowhere.jsonl: file not found"),
    (["--prompts", demo.HELD_OUT, "--regex", "(unclosed"], "is not valid"),
    (["--prompts", demo.HELD_OUT, "--temp", "-2"], "temperature"),
])
def test_eval_bad_input_exits_2_with_the_reason(run_copy, flags, message):
    result = tailor("eval", "--run", run_copy, *flags)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert not (run_copy / "report.json").exists()  # nothing written


def test_chat_keeps_the_conversation_and_resets(demo_run):
    _, run_dir = demo_run
    comments = demo.held_out_comments()
    result = tailor("chat", "--run", run_dir.name, "--max-tokens", 40,
                    input=f"{comments[0]}\n{comments[1]}\n/reset\n{comments[0]}\n/exit\n", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    answers = [line.split("model> ", 1)[1] for line in result.stdout.splitlines() if "model> " in line]
    # The tiny demo model is tuned on single comments: its second answer, after a whole first exchange, may or may not
    # be signed, as the training's arithmetic on this computer makes it.
    assert len(answers) == 3 and answers[0].endswith(demo.SIGNATURE) and all(answers), result.stdout
    assert answers[2] == answers[0]  # after /reset the same first message gets the same greedy answer, in one process


def test_generate_answers_with_the_base_or_the_best_adapter(demo_run):
    _, run_dir = demo_run
    prompt = demo.held_out_comments()[0]
    base = tailor("generate", "--run", run_dir.name, "--base", "--prompt", prompt, "--max-tokens", 30)
    best = tailor("generate", "--run", run_dir.name, "--checkpoint", "best", "--prompt", prompt, "--max-tokens", 30)
    assert base.returncode == best.returncode == 0, base.stderr + best.stderr
    assert not base.stdout.strip().endswith(demo.SIGNATURE) and best.stdout.strip().endswith(demo.SIGNATURE)


def chromium(*args, timeout=120) -> subprocess.CompletedProcess:
    """Headless Chromium, without the OpenBLAS preload the tests run with (Chromium's GPU process dies of it)."""
    env = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (`make test` installs it on Linux)")
def test_report_renders_in_headless_chromium_and_sorts(demo_run, tmp_path):
    _, run_dir = demo_run
    page = run_dir / "report.html"
    dom = chromium(f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()).stdout
    assert "What fine-tuning changed" in dom
    body = dom.split('<table id="examples"')[1].split("</table>")[0]
    assert body.count("<tr>") == 1 + len(demo.held_out_comments())  # the heading row and one per prompt
    assert dom.count("<svg") == 2 and dom.count("<polyline") == 2 and dom.count("<rect") >= 8
    shot = tmp_path / "report.png"
    chromium(f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1400", "--hide-scrollbars",
             f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 20_000
    # Click the "Loss" heading twice in the page itself: the rows come back ordered by the loss change.
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.read_text().replace("</body>", "<script>var th = Array.from(document.querySelectorAll("
                                                "'#examples th')).find(h => h.textContent === 'Loss'); th.click(); "
                                                "th.click();</script></body>"))
    dom = chromium(f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", clicked.as_uri()).stdout
    loss_cells = r'<td class="score" data-sort="([-\d.e]+)">\d+\.\d{3} → \d+\.\d{3}</td>'  # losses: 3 decimals
    changes = [float(v) for v in re.findall(loss_cells, dom)]
    assert len(changes) == len(demo.held_out_comments()) and changes == sorted(changes, reverse=True)

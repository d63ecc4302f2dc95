"""`tailor train --method dpo|orpo` from a terminal: pairs in a spreadsheet of one's own, the held-out pairs' verdict in
`tailor eval`, going on from an earlier run, and bad input refused with the fix and no run left behind."""

import json

from macapp.engine.models import demo
from macapp.engine.runs import runs
from tests.helpers import run_folder, tailor
from tests.workbooks import xlsx


def own_pairs(path):
    """The demo's pairs as a person's workbook: their own column names, a title row above the header."""
    rows = [["Replies to keep"], ["Viewer comment", "Good reply", "Bad reply"]]
    rows += [[p["prompt"], p["chosen"], p["rejected"]] for p in demo.preference_pairs()[:120]]
    return xlsx(path, {"Pairs": rows})


def test_orpo_from_a_workbook_then_eval_says_what_the_held_out_pairs_show(demo_model, tmp_path):
    source = own_pairs(tmp_path / "pairs.xlsx")
    trained = tailor("train", "--name", "pairs-orpo", "--model", "demo", "--data", source, "--method", "orpo",
                     "--iters", 40, "--learning-rate", 1e-4, "--steps-per-eval", 20, "--max-seq-length", 256,
                     timeout=900)
    assert trained.returncode == 0, trained.stderr[-3000:]
    folder = run_folder("pairs-orpo")
    config = (folder / "config.yaml").read_text()
    assert "train_mode: orpo" in config and "beta: 0.1" in config
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert any("val_preference_accuracy" in e for e in events if e["type"] == "val")
    checked = tailor("eval", "--run", folder, "--limit", 4, timeout=900)
    assert checked.returncode == 0, checked.stderr[-3000:]
    said = checked.stdout + checked.stderr
    assert "held-out pairs it never trained on, the fine-tuned model prefers the better answer" in said
    report = json.loads((folder / "report.json").read_text())
    assert report["preference"]["pairs"] == 12 and report["preference"]["preferred"] >= 10
    assert "-- Sam" in report["items"][0]["expected"]  # the better answer is what the answers are checked against


def test_dpo_goes_on_from_an_earlier_run(demo_run, tmp_path):
    _, earlier = demo_run
    source = own_pairs(tmp_path / "pairs.xlsx")
    trained = tailor("train", "--name", "pairs-after", "--from", earlier.name, "--data", source, "--method", "dpo",
                     "--beta", 0.2, "--iters", 6, "--learning-rate", 5e-5, "--max-seq-length", 256, timeout=900)
    assert trained.returncode == 0, trained.stderr[-3000:]
    config = (run_folder("pairs-after") / "config.yaml").read_text()
    assert "train_mode: dpo" in config and "beta: 0.2" in config
    assert f"resume_adapter_file: {earlier}" in config


def test_examples_with_dpo_and_a_bad_beta_exit_2_with_the_fix(demo_model, tmp_path):
    examples = tmp_path / "examples.jsonl"
    examples.write_text("".join(json.dumps(line) + "\n" for line in demo.read_jsonl(demo.REPLIES)[:40]))
    refused = tailor("train", "--name", "wrong-kind", "--model", "demo", "--data", examples, "--method", "dpo",
                     "--iters", 2)
    assert refused.returncode == 2 and "DPO learns from pairs" in refused.stderr, refused.stderr[-2000:]
    assert "Traceback" not in refused.stderr
    assert not [r for r in runs.list_runs() if r["id"].endswith("-wrong-kind")]  # a refused new run leaves nothing
    beta = tailor("train", "--model", "demo", "--data", own_pairs(tmp_path / "p.xlsx"), "--method", "dpo",
                  "--beta", 0)
    assert beta.returncode == 2 and "beta must be a number above 0" in beta.stderr, beta.stderr[-2000:]


def test_data_inspect_reads_pairs_in_ones_own_columns(tmp_path):
    inspected = tailor("data", "inspect", own_pairs(tmp_path / "pairs.xlsx"))
    assert inspected.returncode == 0, inspected.stderr[-2000:]
    assert inspected.stdout.startswith("120 pairs of a better and a worse answer, format: preference")
    assert "prompt = 'Viewer comment', chosen = 'Good reply', rejected = 'Bad reply'" in inspected.stdout

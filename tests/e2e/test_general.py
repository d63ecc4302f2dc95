"""`tailor eval --general`: general knowledge before and after, through lm-evaluation-harness and mlx-lm's own harness
model, in real processes on the demo run.

No model hub is reachable here, and the standard sets' data lives there: a set of the test's own questions stands in,
read from local JSON as the harness reads it, and a stand-in Hugging Face hub on 127.0.0.1 (HF_ENDPOINT) serves
questions of the test's own under ARC's name, which Tailor downloads once, with progress, and never its code.
"""

import json
import os

from tests.helpers import tailor, write_jsonl
from tests.hub_server import Hub
from tests.question_sets import ARC, ARC_CONFIGS, questions, repository

QUESTIONS = 24
TASK = """task: {name}
dataset_path: {source}
{more}
output_type: multiple_choice
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{choices.label.index(answerKey)}}}}"
doc_to_choice: "{{{{choices.text}}}}"
metric_list:
  - metric: acc
"""


def own_task(folder, count: int = QUESTIONS) -> str:
    data = write_jsonl(folder / "sums.jsonl", questions(count))
    task = folder / "sums.yaml"
    task.write_text(TASK.format(name="sums", source="json", more=f"dataset_kwargs:\n  data_files:\n    test: {data}"))
    return str(task)


def general_of(run_dir) -> dict:
    return json.loads((run_dir / "report.json").read_text())["general"]


def test_a_task_of_ones_own_is_asked_of_both_models_and_the_base_is_measured_once(run_copy, tmp_path):
    task = own_task(tmp_path)
    result = tailor("eval", "--run", run_copy, "--general", task, "--limit", 3, "--max-tokens", 12)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = general_of(run_copy)["all"]
    assert figures["questions"] == QUESTIONS
    assert figures["base_right"] - figures["lost"] + figures["gained"] == figures["tuned_right"]
    said = f"General knowledge (sums, {QUESTIONS} questions): {figures['base_right'] / QUESTIONS:.0%} before (95% "
    assert said in result.stdout, result.stdout
    assert f"General knowledge: sums ({QUESTIONS} questions)" in result.stdout  # a row of the scores too
    assert f"<th>General knowledge: sums ({QUESTIONS} questions)</th>" in (run_copy / "report.html").read_text()
    # Asked again (the check left out of the report), the base's answers are the ones kept: only the tuned is asked.
    saved = json.loads((run_copy / "report.json").read_text())
    del saved["general"]
    (run_copy / "report.json").write_text(json.dumps(saved))
    again = tailor("eval", "--run", run_copy, "--general", task, "--limit", 3, "--max-tokens", 12)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "General knowledge of the original model: measured before, used again" in again.stderr + again.stdout
    assert "General knowledge, original model" not in again.stderr + again.stdout
    assert general_of(run_copy)["all"] == figures


def test_the_default_sets_data_comes_from_the_hub_once_with_progress_and_never_its_code(run_copy, tmp_path,
                                                                                       tailor_home):
    """lm-evaluation-harness's own arc_challenge and arc_easy tasks, on questions the stand-in hub serves under ARC's
    name."""
    with Hub() as hub:
        hub.add_dataset(ARC, repository(ARC_CONFIGS, QUESTIONS))
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf")}
        result = tailor("eval", "--run", run_copy, "--general", "--general-limit", 10, "--limit", 2,
                        "--max-tokens", 8, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"Downloading {ARC}" in result.stderr + result.stdout
        assert "General knowledge (arc_challenge and arc_easy, 20 questions)" in result.stdout, result.stdout
        fetched = [path for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path]
        assert fetched and not any(path.endswith(".py") for path in fetched)
        assert general_of(run_copy)["all"]["questions"] == 20
        kept = tailor_home / "datasets" / ARC.replace("/", "--")
        assert (kept / "ARC-Easy" / "test-00000-of-00001.parquet").is_file()
        count = len(hub.requests)
        (run_copy / "report.json").unlink()
        again = tailor("eval", "--run", run_copy, "--general", "--general-limit", 10, "--limit", 2,
                       "--max-tokens", 8, env=env)
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(hub.requests) == count  # kept: the hub is not asked again


def test_a_set_that_does_not_exist_is_refused_before_any_answer_with_close_names(run_copy):
    result = tailor("eval", "--run", run_copy, "--general", "arc_esy", "--limit", 2)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "arc_esy: no such question set in lm-evaluation-harness. Close names: arc_easy" in result.stderr
    assert "Traceback" not in result.stderr and not (run_copy / "report.json").exists()


def test_a_stop_during_the_check_keeps_the_answers_and_asking_again_goes_on(run_copy, tmp_path):
    """Stopped (as the window's Stop does) once the first general knowledge answers are scored: the worker ends as
    stopped, the held-out answers are kept, and the next scoring uses them and makes the check."""
    import signal

    from macapp import exitcodes, jobs
    from macapp.engine.evaluate.general_scores import GeneralCheck

    task = own_task(tmp_path, 200)  # 800 answers to score, 16 at a time: the stop comes long before the end
    job = jobs.EvaluateJob(run=str(jobs.scratch_folder("evaluate")), source=str(run_copy), limit=2,
                           sampling={"max_tokens": 8}, general=GeneralCheck((task,), 200).to_dict())
    process, stages = jobs.start(job), []
    for event in jobs.events(process):
        stages.append(event.get("stage"))
        if event.get("stage") == "general-base" and stages.count("general-base") == 1:
            process.send_signal(signal.SIGINT)
    assert process.returncode == exitcodes.STOPPED and stages.count("general-tuned") == 0
    saved = json.loads((run_copy / "report.json").read_text())
    assert len(saved["items"]) == 2 and "general" not in saved
    again = tailor("eval", "--run", run_copy, "--general", task, "--general-limit", 200, "--limit", 2,
                   "--max-tokens", 8)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing changed since the last scoring" in again.stderr + again.stdout
    assert general_of(run_copy)["all"]["questions"] == 200

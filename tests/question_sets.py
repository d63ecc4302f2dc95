"""Question sets of the tests' own for the general knowledge check, since no hub is reachable here: sums in the shape of
ARC's rows, as a repository a stand-in hub serves under ARC's own name (so lm-evaluation-harness's own arc_easy and
arc_challenge tasks read them) or under another.
"""

import io

import pyarrow as pa
import pyarrow.parquet as pq

ARC = "allenai/ai2_arc"
ARC_CONFIGS = ("ARC-Easy", "ARC-Challenge")
SPLITS = ("train", "validation", "test")


def questions(count: int) -> list[dict]:
    """Sums with four choices, the first one right, as ARC's rows are."""
    return [{"id": f"q{n}", "question": f"What is {n} plus {n % 7}?",
             "choices": {"text": [str(n + n % 7), str(n + n % 7 + 1), str(n * 3 + 2), str(n)],
                         "label": ["A", "B", "C", "D"]}, "answerKey": "A"} for n in range(count)]


def parquet(rows: list[dict]) -> bytes:
    table = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), table)
    return table.getvalue()


def repository(configs, count: int) -> dict[str, bytes]:
    """A dataset repository's files: each config's splits as parquet files, listed in its README as the hub's are,
    and a loading script, which Tailor must never fetch."""
    card = ["---", "configs:"]
    files = {"loader.py": b"raise SystemExit('code from the hub was run')"}
    for config in configs:
        card += [f"- config_name: {config}", "  data_files:"]
        for split in SPLITS:
            card += [f"  - split: {split}", f"    path: {config}/{split}-*"]
            files[f"{config}/{split}-00000-of-00001.parquet"] = parquet(questions(count))
    files["README.md"] = ("\n".join(card + ["---", ""])).encode()
    return files

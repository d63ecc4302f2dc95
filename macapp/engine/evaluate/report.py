"""The evaluation report of a run: report.json, and report.html, one self-contained page for a browser.

The page holds the training curves and the score bars as inline SVG, the summary, and a table of
every prompt with both answers that sorts by any column when its heading is clicked.
"""

import html
import json
import time
from pathlib import Path

from ..files import write_json_atomic, write_text_atomic
from ..runs import runs
from ..runs.run_state import RunState
from . import picks, verdict
from .general_scores import general_rows
from .scores import METRICS, SHARES, SHORT_LABELS, change_text, figure, item_keys, pair, summary_rows

COLORS = {"base": "#8a8f98", "tuned": "#2f6fdf", "train": "#2f6fdf", "valid": "#e0782f"}
SIDE_NAMES = {"base": "Original model", "tuned": "Fine-tuned model"}


def training_curves(run_dir) -> dict:
    """[step, loss] pairs of the run's training, as its RunState keeps them."""
    state = RunState.replay(runs.read_events(run_dir))
    return {"train": [[step, loss] for step, loss, _ in state.train_points],
            "valid": [[step, loss] for step, loss in state.val_points]}


def write(run_dir, result: dict) -> dict:
    """Write report.json and report.html into the run folder; returns their paths."""
    run_dir = Path(run_dir)
    report = {**result, "run": run_dir.name, "created": time.strftime("%Y-%m-%d %H:%M"),
              "training": training_curves(run_dir)}
    paths = {"json": run_dir / "report.json", "html": run_dir / "report.html"}
    write_json_atomic(paths["json"], report)
    write_text_atomic(paths["html"], page(report, picks.read(run_dir)))
    return {key: str(path) for key, path in paths.items()}


def read(run_dir) -> dict | None:
    """The run's report.json, or None when it has none (or one that cannot be read)."""
    try:
        saved = json.loads((Path(run_dir) / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) and isinstance(saved.get("items"), list) else None


def refresh(run_dir) -> None:
    """Write report.html again from report.json and the picks made since, so the page shows the latest agreement."""
    saved = read(run_dir)
    if saved is not None:
        write_text_atomic(Path(run_dir) / "report.html", page(saved, picks.read(run_dir)))


def change(key: str, value: float, better) -> str:
    good = better is not None and value != 0 and (value > 0) == better
    bad = better is not None and value != 0 and not good
    return f'<span class="{"good" if good else "bad" if bad else ""}">{change_text(key, value)}</span>'


def line_chart(curves: dict, width: int = 500, height: int = 220) -> str:
    points = [p for series in curves.values() for p in series]
    if not points:
        return '<p class="muted">No training curves in this run.</p>'
    left, bottom, pad = 48, 28, 10
    x_max = max(p[0] for p in points) or 1
    y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
    y_span = (y_high - y_low) or 1.0

    def xy(step, loss):
        return (left + (width - left - pad) * step / x_max,
                pad + (height - bottom - pad) * (1 - (loss - y_low) / y_span))

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'role="img" aria-label="Training loss by step">']
    for fraction in (0, 0.5, 1):
        loss = y_low + y_span * fraction
        _, y = xy(0, loss)
        parts.append(f'<line x1="{left}" x2="{width - pad}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{loss:.2f}</text>')
    parts.append(f'<text x="{width - pad}" y="{height - 6}" text-anchor="end">step {x_max}</text>'
                 f'<text x="{left}" y="{height - 6}">step 0</text>')
    for name, series in curves.items():
        if series:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(*p) for p in series))
            parts.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[name]}" stroke-width="2"/>')
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{COLORS[n]}"></i>{label}</span>'
                     for n, label in (("train", "Training loss"), ("valid", "Validation loss")) if curves[n])
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def bar_chart(summary: dict, width: int = 500) -> str:
    keys = [k for k, _, _ in METRICS if k in SHARES and k in summary["base"]]
    if not keys:
        return ""
    labels = {k: label for k, label, _ in METRICS}
    row, left = 46, 190
    height = row * len(keys) + 10
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'role="img" aria-label="Scores of both models">']
    for index, key in enumerate(keys):
        top = 6 + index * row
        parts.append(f'<text x="{left - 8}" y="{top + 20}" text-anchor="end">{html.escape(labels[key])}</text>')
        for offset, side in enumerate(("base", "tuned")):
            value = summary[side][key]
            bar = (width - left - 60) * value
            y = top + offset * 18
            parts.append(f'<rect x="{left}" y="{y}" width="{bar:.1f}" height="15" fill="{COLORS[side]}"/>'
                         f'<text x="{left + bar + 6:.1f}" y="{y + 12}">{value:.0%}</text>')
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{COLORS[s]}"></i>{SIDE_NAMES[s]}</span>' for s in ("base", "tuned"))
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def verdict_card(card: verdict.Card) -> str:
    lines = "".join(f"<p>{html.escape(line)}</p>" for line in [*card.lines, card.general] if line)
    tips = "".join(f"<li>{html.escape(tip)}</li>" for tip in card.tips)
    tips = f'<p class="tips-head">What to try</p><ul>{tips}</ul>' if tips else ""
    return f'<section class="verdict {card.call}"><h2>{html.escape(card.headline)}</h2>{lines}{tips}</section>'


def summary_table(summary: dict, check: dict | None, general: dict | None = None) -> str:
    """The scores of the answers, then each general knowledge set when it was checked."""
    rows = [f"<tr><th>{html.escape(label)}</th><td>{figure(key, summary['base'][key])}</td>"
            f"<td>{figure(key, summary['tuned'][key])}</td><td>{change(key, summary['difference'][key], better)}</td>"
            "</tr>" for key, label, better in summary_rows(summary, check)]
    for label, *texts in general_rows(general) if general else []:
        rows.append(f"<tr><th>{html.escape(label)}</th>" + "".join(f"<td>{html.escape(text)}</td>" for text in texts)
                    + "</tr>")
    return ('<table class="summary"><thead><tr><th></th><th>Original</th><th>Fine-tuned</th>'
            f'<th>Fine-tuned − original</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _cell(item: dict, key: str) -> str:
    """Both sides' value of one score, original -> fine-tuned; it sorts by the change."""
    shown = pair(item, key)
    return f'<td class="score" data-sort="{shown[1]}">{shown[0]}</td>' if shown else "<td>–</td>"


def _verdict_cells(item: dict, picked: dict) -> str:
    """The judge's verdict with its reason, and the person's own pick, of one prompt."""
    judged = item.get("judge")
    if judged:
        outcome = judged["outcome"]
        judge = (f'<td class="judged" data-sort="{verdict.OUTCOME_ORDER[outcome]}">'
                 f'<b>{verdict.OUTCOME_WORDS[outcome]}</b><br>'
                 f'<span class="muted">{html.escape(judged.get("reason", ""))}</span></td>')
    else:
        judge = '<td data-sort="-3">' + (verdict.NOT_JUDGED if item.get("in_training") else "–") + "</td>"
    pick = picked.get(item.get("key"))
    said, order = verdict.pick_words(pick) if pick else ("–", -3)
    mine = f'<td data-sort="{order}">{said}</td>'
    return judge + mine


def examples_table(items: list[dict], picked: dict) -> str:
    keys = item_keys(items)
    judged = any(item.get("judge") for item in items) or bool(picked)
    head = ["#", "Prompt", "Expected", "Original answer", "Fine-tuned answer",
            *(("Judge", "Your pick") if judged else ()), *(SHORT_LABELS[k] for k in keys)]
    body = []
    for number, item in enumerate(items, start=1):
        cells = [f'<td data-sort="{number}">{number}</td>', f"<td>{html.escape(item['prompt'])}</td>",
                 f"<td>{html.escape(item['expected'] or '')}</td>",
                 f"<td>{html.escape(item['base']['answer'])}</td>", f"<td>{html.escape(item['tuned']['answer'])}</td>"]
        cells += [_verdict_cells(item, picked)] if judged else []
        cells += [_cell(item, k) for k in keys]
        body.append(f"<tr>{''.join(cells)}</tr>")
    headings = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return (f'<table id="examples" class="examples"><thead><tr>{headings}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


STYLE = """
body { font: 14px/1.45 -apple-system, BlinkMacSystemFont, "Helvetica Neue", Arial, sans-serif; color: #1d1d1f;
       margin: 32px auto; max-width: 1200px; padding: 0 24px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 32px; }
.muted, .meta { color: #6e6e73; } .charts { display: flex; flex-wrap: wrap; gap: 32px; }
.chart text { font-size: 11px; fill: #6e6e73; } .chart .grid { stroke: #e5e5ea; }
.legend span { margin-right: 16px; font-size: 12px; color: #444; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 5px; border-radius: 2px; }
table { border-collapse: collapse; } th, td { text-align: left; padding: 6px 10px; vertical-align: top; }
.summary td, .summary thead th { text-align: right; min-width: 90px; } .summary tbody th { font-weight: 500; }
.summary tr, .examples tr { border-bottom: 1px solid #e5e5ea; }
.examples { font-size: 13px; } .examples td { min-width: 40px; } .examples td:nth-child(-n+5) { min-width: 150px; }
.examples td:first-child { min-width: 20px; } .examples .score { white-space: nowrap; }
.examples th { cursor: pointer; user-select: none; background: #f5f5f7;
  position: sticky; top: 0; } .examples th:hover { background: #e8e8ed; }
.good { color: #1f8a3b; font-weight: 600; } .bad { color: #c62828; font-weight: 600; }
.verdict { border-radius: 10px; padding: 4px 20px 10px; margin: 18px 0; background: #f5f5f7;
  border-left: 6px solid #8a8f98; } .verdict h2 { margin-top: 14px; } .verdict p { margin: 6px 0; }
.verdict.better { border-color: #1f8a3b; background: #eef8f0; } .verdict.worse { border-color: #c62828;
  background: #fdf0f0; } .verdict.unclear, .verdict.same { border-color: #d08a00; background: #fdf7ea; }
.tips-head { font-weight: 600; } .examples td.judged { min-width: 200px; }
"""

SORT_SCRIPT = """
document.querySelectorAll('#examples th').forEach(function (th, column) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], up = th.dataset.order !== 'up';
    th.dataset.order = up ? 'up' : 'down';
    var key = function (row) { var cell = row.cells[column]; var v = cell.dataset.sort;
      return v === undefined ? cell.textContent.toLowerCase() : parseFloat(v); };
    Array.from(body.rows).sort(function (a, b) { var x = key(a), y = key(b);
      return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1); }).forEach(function (r) { body.appendChild(r); });
  });
});
"""


def page(report: dict, picked: dict | None = None) -> str:
    summary = report["summary"]
    check = f"; check: answer {html.escape(report['check']['description'])}" if report.get("check") else ""
    meta = (f"Run {html.escape(report['run'])} · model {html.escape(str(report.get('model', '')))} · "
            f"{html.escape(report.get('adapter_label', ''))} · {len(report['items'])} prompts from "
            f"{html.escape(report.get('prompt_set', ''))} · {html.escape(report.get('sampling_text', ''))}{check} · "
            f"{report['created']}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Tailor report: {html.escape(report['run'])}</title>
<style>{STYLE}</style></head><body>
<h1>What fine-tuning changed</h1>
<p class="meta">{meta}</p>
{verdict_card(verdict.card(report, picked))}
<h2>Summary</h2>
{summary_table(summary, report.get('check'), report.get('general'))}
<div class="charts"><div><h2>Scores</h2>{bar_chart(summary)}</div>
<div><h2>Training</h2>{line_chart(report['training'])}</div></div>
<h2>Every prompt</h2>
<p class="muted">Each score shows original → fine-tuned. Click a column heading to sort by it;
a score column sorts by the change.</p>
{examples_table(report['items'], picked or {})}
<script>{SORT_SCRIPT}</script>
</body></html>
"""

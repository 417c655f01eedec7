"""The pictures of `make eval` and `make bench`, from the summaries they print last (PNG, drawn with
matplotlib's Agg canvas: no display, no pyplot state).

    eval_chart(summary, "docs/eval.png")    # served vs each baseline, HR@10 and NDCG@10 ± se
    bench_chart(figures, "docs/bench.png")  # p50/p99 per endpoint, fresh and keep-alive, vs the floor

Each returns the matplotlib Figure it saved, so tests can read its bars and labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SERVED_COLOUR, BASELINE_COLOUR = "#1f6fb4", "#9aa5b1"
# the bench chart's series: (label, key prefix, metric, colour)
SERIES = (
    ("fresh p50", "", "p50", "#1f6fb4"),
    ("fresh p99", "", "p99", "#9cc3e6"),
    ("keep-alive p50", "keepalive_", "p50", "#d9822b"),
    ("keep-alive p99", "keepalive_", "p99", "#f3c28f"),
)
ENDPOINTS = (
    ("floor", "GET /v1/items/{id}\n(floor)"),
    ("recs", "GET /v1/recommendations\n?limit=20"),
    ("recs_cached", "GET /v1/recommendations\n(ranking kept)"),
    ("similar", "GET /v1/items/{id}\n/similar"),
    ("explain", "GET /v1/recommendations\n/{id}/explain"),
)
METRICS = (("hr@10", "se_hr@10", "HR@10"), ("ndcg@10", "se_ndcg@10", "NDCG@10"))


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Figure:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png")
    return figure


def eval_chart(summary: Mapping[str, Any], path: str | Path, note: str = "") -> Figure:
    """`make eval`'s figures: one panel per metric (HR@10, NDCG@10), a bar per model (the served
    model first, then each baseline) with its bootstrap standard error as the error bar."""
    models = [name for name in summary if isinstance(summary[name], Mapping) and "hr@10" in summary[name]]
    models.sort(key=lambda name: name != "served")
    figure = _figure(8.0, 3.6)
    axes = figure.subplots(1, len(METRICS))
    for ax, (metric, error, title) in zip(axes, METRICS, strict=True):
        values = [float(summary[name][metric]) for name in models]
        errors = [float(summary[name].get(error, 0.0)) for name in models]
        colours = [SERVED_COLOUR if name == "served" else BASELINE_COLOUR for name in models]
        bars = ax.bar(models, values, yerr=errors, capsize=4, color=colours, label=title)
        ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], padding=2, fontsize=8)
        ax.set_title(title)
        ax.set_ylim(0, max(v + e for v, e in zip(values, errors, strict=True)) * 1.2 or 1)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    version = summary.get("served", {}).get("model_version", "")
    figure.suptitle(
        "make eval: MovieLens-100k, leave-last-out; served (through the API) vs baselines, ± 1 se"
        + (f"\n{version}" if version else "")
        + (f"  {note}" if note else ""),
        fontsize=9,
    )
    return _save(figure, path)


def bench_chart(figures: Mapping[str, Any], path: str | Path, note: str = "") -> Figure:
    """`make bench`'s read endpoints: p50 and p99 on fresh and on kept-alive connections, a group
    of bars per endpoint, with the floor's fresh p50 and p99 drawn across as dashed lines."""
    names = [(name, label) for name, label in ENDPOINTS if f"{name}_p50_ms" in figures]
    figure = _figure(9.0, 4.2)
    ax = figure.subplots()
    width = 0.8 / len(SERIES)
    for n, (label, prefix, metric, colour) in enumerate(SERIES):
        values = [float(figures[f"{prefix}{name}_{metric}_ms"]) for name, _ in names]
        positions = [i + (n - (len(SERIES) - 1) / 2) * width for i in range(len(names))]
        bars = ax.bar(positions, values, width, label=label, color=colour)
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], padding=1, fontsize=7)
    for metric, style in (("p50", "--"), ("p99", ":")):
        if f"floor_{metric}_ms" in figures:
            floor = float(figures[f"floor_{metric}_ms"])
            ax.axhline(floor, color="#444444", linestyle=style, linewidth=1, label=f"floor {metric}")
    ax.set_xticks(range(len(names)), [label for _, label in names], fontsize=8)
    ax.set_ylabel("ms, as the client sees it")
    ax.legend(fontsize=8, ncols=3, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    top = max((bar.get_height() for bar in ax.patches), default=1.0)
    ax.set_ylim(0, top * 1.35)
    scale = figures.get("scale", "")
    items = figures.get("items")
    ax.set_title(
        f"make bench ({scale}{f', {int(items):,} items' if items else ''}): latency per endpoint"
        + (f"\n{note}" if note else ""),
        fontsize=9,
    )
    return _save(figure, path)

"""localcloud/charts.py: the PNGs of `make eval` and `make bench`, drawn from their summaries."""

from __future__ import annotations

from typing import Any

from matplotlib.container import BarContainer

from localcloud.charts import bench_chart, eval_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

EVAL: dict[str, dict[str, Any]] = {
    "served": {
        "hr@10": 0.2,
        "ndcg@10": 0.11,
        "coverage@10": 0.3,
        "se_hr@10": 0.013,
        "se_ndcg@10": 0.008,
        "model_version": "v20261201-000000-abc",
        "answered_by": ["v20261201-000000-abc"],
    },
    "popular": {"hr@10": 0.05, "ndcg@10": 0.02, "coverage@10": 0.01, "se_hr@10": 0.007, "se_ndcg@10": 0.003},
    "ease": {"hr@10": 0.15, "ndcg@10": 0.08, "coverage@10": 0.2, "se_hr@10": 0.011, "se_ndcg@10": 0.006},
    "als": {"hr@10": 0.12, "ndcg@10": 0.06, "coverage@10": 0.2, "se_hr@10": 0.01, "se_ndcg@10": 0.005},
}


def _bench() -> dict[str, float | str]:
    figures: dict[str, float | str] = {"scale": "seeded", "items": 1682.0, "rps_8": 250.0}
    for n, name in enumerate(("floor", "recs", "similar", "explain")):
        figures[f"{name}_p50_ms"] = 2.0 + n
        figures[f"{name}_p99_ms"] = 5.0 + n
        figures[f"keepalive_{name}_p50_ms"] = 1.5 + n
        figures[f"keepalive_{name}_p99_ms"] = 4.0 + n
    return figures


def test_eval_chart_is_a_png_of_each_model_with_its_error_bars(tmp_path):
    target = tmp_path / "out" / "eval.png"
    figure: Any = eval_chart(EVAL, target)  # Any: matplotlib's artists are read loosely here
    assert target.read_bytes().startswith(PNG_SIGNATURE)
    hr, ndcg = figure.axes
    assert (hr.get_title(), ndcg.get_title()) == ("HR@10", "NDCG@10")
    for ax, metric, error in ((hr, "hr@10", "se_hr@10"), (ndcg, "ndcg@10", "se_ndcg@10")):
        labels = [tick.get_text() for tick in ax.get_xticklabels()]
        assert labels == ["served", "popular", "ease", "als"]  # served first, then each baseline
        heights = [bar.get_height() for bar in ax.patches]
        assert heights == [EVAL[name][metric] for name in labels]
        (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert bars.errorbar is not None
        (segments,) = bars.errorbar.lines[2]  # the error bars' vertical segments
        spans = [abs(seg[1][1] - seg[0][1]) / 2 for seg in segments.get_segments()]
        assert all(abs(a - EVAL[n][error]) < 1e-9 for a, n in zip(spans, labels, strict=True))
        # the values are printed over the bars
        assert [t.get_text() for t in ax.texts] == [f"{EVAL[n][metric]:.3f}" for n in labels]
    assert "v20261201-000000-abc" in figure.texts[0].get_text()  # the suptitle names the model


def test_bench_chart_is_a_png_of_p50_and_p99_fresh_and_keep_alive_against_the_floor(tmp_path):
    figures = _bench()
    target = tmp_path / "bench.png"
    figure: Any = bench_chart(figures, target, note="2 cores, shared")
    assert target.read_bytes().startswith(PNG_SIGNATURE)
    (ax,) = figure.axes
    assert len(ax.patches) == 4 * 4  # four series, four endpoints
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    assert labels[0].startswith("GET /v1/items/{id}") and "(floor)" in labels[0]
    assert any("recommendations" in label for label in labels[1:])
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["floor p50", "floor p99", "fresh p50", "fresh p99", "keep-alive p50", "keep-alive p99"]
    series = {
        c.get_label(): [bar.get_height() for bar in c] for c in ax.containers if isinstance(c, BarContainer)
    }
    assert series["fresh p50"] == [2.0, 3.0, 4.0, 5.0]
    assert series["keep-alive p99"] == [4.0, 5.0, 6.0, 7.0]
    floor_lines = [line.get_ydata()[0] for line in ax.get_lines()]
    assert floor_lines == [2.0, 5.0]
    assert "seeded" in ax.get_title() and "2 cores, shared" in ax.get_title()

"""Table, JSON and plot of a hand-built evaluation result."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_fbrs.evaluation.noc import EvalSettings, EvaluationResult, SampleResult
from napari_fbrs.evaluation.report import (
    format_table,
    plot_curve,
    read_json,
    table_columns,
    write_json,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _result(**settings: object) -> EvaluationResult:
    samples = [
        SampleResult("a.jpg", [(5, 5, True), (1, 2, False)], [0.7, 0.92], 0.3),
        SampleResult("b.jpg", [(3, 3, True)], [0.95], 0.1),
        SampleResult(
            "c.jpg",
            [(1, 1, True), (2, 2, True), (3, 3, False), (4, 4, True)],
            [0.5, 0.6, 0.82, 0.86],
            0.4,
        ),
    ]
    config = EvalSettings(max_clicks=4, **settings)  # type: ignore[arg-type]
    return EvaluationResult("GrabCut", "f-BRS-B", config, samples, elapsed=2.0)


def test_table_holds_the_right_numbers() -> None:
    result = _result()
    values = dict(table_columns(result))
    # NoC@80: 2, 1, 3 -> 2.00; NoC@85: 2, 1, 4 -> 2.33; NoC@90: 2, 1, 4 -> 2.33
    assert values["NoC@80"] == "2.00"
    assert values["NoC@85"] == "2.33"
    assert values["NoC@90"] == "2.33"
    # c reaches 0.85 at click 4 == max_clicks: counted, as upstream does; c never reaches 0.9.
    assert values[">=4@85"] == "1" and values[">=4@90"] == "1"
    # mIoU: (0.7+0.95+0.5)/3, (0.92+0.95+0.6)/3, (0.92+0.95+0.82)/3, (0.92+0.95+0.86)/3
    assert [values[f"mIoU@{k}"] for k in (1, 2, 3, 4)] == ["0.717", "0.823", "0.897", "0.910"]
    assert values["mIoU@5"] == "-"  # beyond max_clicks
    assert values["s/click"] == "0.11"  # 0.8 s over 7 clicks
    assert values["samples"] == "3"

    table = format_table(result)
    header, rule, row = table.splitlines()
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells == [
        "f-BRS-B",
        "GrabCut",
        "2.00",
        "2.33",
        "2.33",
        "1",
        "1",
        "0.717",
        "0.823",
        "0.897",
        "0.910",
        "-",
        "0.11",
        "3",
    ]
    assert [c.strip() for c in header.split("|")[1:-1]] == list(values)
    assert list(values)[:7] == [
        "method",
        "dataset",
        "NoC@80",
        "NoC@85",
        "NoC@90",
        ">=4@85",
        ">=4@90",
    ]
    assert set(rule) <= set("|-: ")
    assert len(header) == len(rule) == len(row)


def test_table_marks_thresholds_the_run_did_not_reach_for() -> None:
    values = dict(table_columns(_result(iou_thresholds=(0.8, 0.85))))
    assert values["NoC@85"] == "2.33" and values["NoC@90"] == "-" and values[">=4@90"] == "-"


def test_json_round_trip(tmp_path: Path) -> None:
    result = _result()
    path = write_json(result, tmp_path / "results.json")
    assert path == tmp_path / "results.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temp file left
    data = json.loads(path.read_text())
    assert data["settings"] == {
        "max_clicks": 4,
        "iou_thresholds": [0.8, 0.85, 0.9],
        "pred_thresh": 0.49,
        "full_curve": False,
        "max_samples": None,
    }
    assert data["summary"]["noc"] == pytest.approx({"0.8": 2.0, "0.85": 7 / 3, "0.9": 7 / 3})
    assert data["summary"]["failures"] == {"0.8": 0, "0.85": 1, "0.9": 1}
    assert data["summary"]["miou"] == pytest.approx(list(result.miou_curve()))
    assert data["samples"][2] == {
        "name": "c.jpg",
        "clicks": [[1, 1, True], [2, 2, True], [3, 3, False], [4, 4, True]],
        "ious": [0.5, 0.6, 0.82, 0.86],
        "seconds": 0.4,
    }
    again = read_json(path)
    assert again == result
    assert format_table(again) == format_table(result)


def test_read_json_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: cannot read"):
        read_json(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something"}))
    with pytest.raises(ValueError, match="other.json: not a napari-fbrs-evaluation result"):
        read_json(other)


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_json(_result(), tmp_path / "results.json")
    before = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("napari_fbrs.evaluation.report.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_json(_result(pred_thresh=0.3), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = plot_curve(_result(), tmp_path / "curve.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    other = _result()
    other.method = "random-walker"
    several = plot_curve([_result(), other], tmp_path / "plots" / "both.png")
    assert several.read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "plots"]


def test_plot_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"curve.pdf: the plot is written as PNG"):
        plot_curve(_result(), tmp_path / "curve.pdf")
    with pytest.raises(ValueError, match="at least one evaluation result"):
        plot_curve([], tmp_path / "curve.png")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(RuntimeError, match="pip install matplotlib"):
        plot_curve(_result(), tmp_path / "curve.png")
    assert not (tmp_path / "curve.png").exists()


def test_miou_curve_of_the_hand_built_result() -> None:
    np.testing.assert_allclose(
        _result().miou_curve(),
        [
            (0.7 + 0.95 + 0.5) / 3,
            (0.92 + 0.95 + 0.6) / 3,
            (0.92 + 0.95 + 0.82) / 3,
            (0.92 + 0.95 + 0.86) / 3,
        ],
    )

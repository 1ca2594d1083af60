"""docs/model_card.md: every number comes from a committed result of the shipped model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_fbrs.evaluation.report import format_table, read_json
from napari_fbrs.model.default_model import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
CARD = REPO / "docs" / "model_card.md"
RESULTS = REPO / "docs" / "model_card"


def result_files() -> list[Path]:
    files = sorted(RESULTS.glob("*.json"))
    assert files, f"no evaluation results in {RESULTS}"
    return files


def test_every_table_row_is_the_row_its_json_gives() -> None:
    card = CARD.read_text(encoding="utf-8")
    for path in result_files():
        row = format_table(read_json(path)).splitlines()[2]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert " | ".join(cells) in _normalised(card), f"{path.name}: row {row} not in the card"
        assert path.name in card, f"{path.name} is not named by a command in the card"


def test_model_results_were_made_with_the_shipped_weights() -> None:
    for path in result_files():
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["method"] == "random-walker":
            continue
        assert data["provenance"]["sha256"] == DEFAULT_MODEL.sha256, path.name


def _normalised(text: str) -> str:
    """Table rows with single spaces around the pipes (column widths may differ)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("|"):
            lines.append(" | ".join(c.strip() for c in line.strip().strip("|").split("|")))
    return "\n".join(lines)


def _training_script(name: str):  # noqa: ANN202 - a module loaded from training/
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "training" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(line: str) -> str:
    return " | ".join(c.strip() for c in line.strip().strip("|").split("|"))


def test_the_table_script_prints_the_card_rows() -> None:
    files = result_files()
    lines = _training_script("model_card_table").card_table(files).splitlines()
    assert len(lines) == 2 + len(files)
    card = _normalised(CARD.read_text(encoding="utf-8"))
    for line in lines[2:]:
        assert _row(line) in card


def test_the_click_curves_in_the_card_are_the_ones_their_jsons_give() -> None:
    files = sorted((RESULTS / "responsiveness").glob("*.json"))
    assert files, "no full-curve results in docs/model_card/responsiveness"
    card = _normalised(CARD.read_text(encoding="utf-8"))
    for line in _training_script("click_curves").curves_table(files).splitlines()[2:]:
        assert _row(line) in card, line


def test_the_f_brs_b_click_curves_of_stopped_runs_are_in_the_card() -> None:
    """The card compares release 2 and the release 3 candidates click by click on DSB2018/val
    from their ordinary (stopped) runs; a stopped run needs ``--stopped``."""
    files = [
        RESULTS / "dsb2018_val300_fbrs_b.json",
        RESULTS / "release3_candidate" / "dsb2018_val300_fbrs_b.json",
        RESULTS / "release3_candidate2" / "dsb2018_val300_fbrs_b.json",
        RESULTS / "release3_candidate2" / "dsb2018_val300_nobrs.json",
        RESULTS / "dsb2018_val300_nobrs.json",
        RESULTS / "release3_candidate3" / "dsb2018_val300_fbrs_b.json",
        RESULTS / "release3_candidate3" / "dsb2018_val300_nobrs.json",
    ]
    curves = _training_script("click_curves")
    with pytest.raises(ValueError, match="not a --full-curve run"):
        curves.curves_table(files)
    lines = curves.curves_table(files, stopped=True).splitlines()
    assert len(lines) == 2 + len(files)
    card = _normalised(CARD.read_text(encoding="utf-8"))
    for line in lines[2:]:
        assert "mIoU after at most k clicks" in line
        assert _row(line) in card, line


def test_the_learning_curve_adds_up_resumed_stretches_and_places_validations(
    tmp_path: Path,
) -> None:
    """training/learning_curve.py: one row per stretch of steps, hours summed over resumes
    (elapsed_s restarts at 0), the validation that fell in the stretch beside it."""
    (tmp_path / "train_log.csv").write_text(
        "step,epoch,lr,loss,instance,images_per_s,elapsed_s\n"
        "10,1,1e-4,0.5,0.5,4.0,1800\n"
        "20,1,1e-4,0.3,0.3,2.0,3600\n"  # resumed after this row
        "30,1,1e-4,0.2,0.2,6.0,1800\n",
        encoding="utf-8",
    )
    (tmp_path / "val_log.csv").write_text(
        "step,epoch,noc@90,miou@5\n20,1,7.5,0.81\n", encoding="utf-8"
    )
    table = _training_script("learning_curve").curve_table(tmp_path, every=20).splitlines()
    assert table[0] == "| steps | crops | mean loss | crops/s | hours | noc@90 | miou@5 |"
    assert table[2] == "| 20 | 160 | 0.4000 | 3.00 | 1.00 | 7.500 | 0.810 |"
    assert table[3] == "| 30 | 240 | 0.2000 | 6.00 | 1.50 | - | - |"


def test_the_card_shows_the_learning_curve_of_its_committed_logs() -> None:
    logs = RESULTS / "release3_logs"
    lines = _training_script("learning_curve").curve_table(logs, every=500).splitlines()
    card = _normalised(CARD.read_text(encoding="utf-8"))
    for line in lines[2:]:
        assert _row(line) in card, line


def _card_row_of(folder: str, path: Path) -> str:
    """The card's row for a result file kept in a sub-folder: its path, then its table row."""
    row = format_table(read_json(path)).splitlines()[2]
    return " | ".join([f"`{folder}/{path.name}`"] + [c.strip() for c in row.strip("|").split("|")])


@pytest.mark.parametrize(
    "folder",
    [
        "release3_candidate",
        "release3_candidate2",
        "release3_candidate3",
        "release4_run/card",
        "release4_run/card_step7000",
    ],
)
def test_the_release3_candidate_rows_are_its_results(folder: str) -> None:
    """The candidates that failed the shipping rule: their rows are their JSONs' rows, each
    candidate's made with the one set of weights whose sha256 the card gives."""
    card = CARD.read_text(encoding="utf-8")
    files = sorted((RESULTS / folder).glob("*.json"))
    assert len(files) == 5
    digests = set()
    for path in files:
        assert _card_row_of(folder, path) in _normalised(card), path.name
        digests.add(json.loads(path.read_text(encoding="utf-8"))["provenance"]["sha256"])
    assert len(digests) == 1 and digests.pop() in card


def test_the_release4_run_choosing_rows_are_its_results() -> None:
    """The fresh run's checkpoint (held-out DSB2018/train nuclei, DUTS-TR validation) and
    release 2 on the same choosing sets: every file is a row of the card, named by its path."""
    card = _normalised(CARD.read_text(encoding="utf-8"))
    files = sorted((RESULTS / "release4_run" / "choosing").glob("*.json"))
    assert len(files) >= 2
    for path in files:
        assert _card_row_of("release4_run/choosing", path) in card, path.name


def test_the_stride_oracle_draws_a_small_disk_at_stride_4_and_loses_it_at_32() -> None:
    """training/stride_oracle.py: a 16 px nucleus seen through ZoomIn is drawn almost exactly
    by a fitted stride-4 grid, and far worse by a stride-32 one (the ceiling it reports)."""
    oracle = _training_script("stride_oracle")
    rows, cols = np.mgrid[:256, :256]
    disk = (rows - 100.3) ** 2 + (cols - 140.6) ** 2 <= 8.0**2
    crop, view = oracle.zoomed_view(disk)
    assert max(view.shape) == 400 and crop.sum() == disk.sum()
    assert 200 <= max(crop.shape) <= 201
    fine = oracle.fitted_iou(crop, view, stride=4, steps=150)
    coarse = oracle.fitted_iou(crop, view, stride=32, steps=150)
    assert fine >= 0.97
    assert coarse < fine - 0.05

"""The result schema of a NoC evaluation: its settings, per-object records and metrics.

:class:`EvaluationResult` is what ``evaluate_dataset`` returns and what the ``--output`` JSON
holds (:meth:`EvaluationResult.to_dict` / :meth:`EvaluationResult.from_dict`); the metrics (NoC,
failures, mIoU curve) are always derived from the per-click IoU records, never stored apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .metrics import miou_curve, noc_summary, satisfaction_curve

RESULT_FORMAT = "napari-fbrs-evaluation"
RESULT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class EvalSettings:
    """The protocol knobs; the defaults are those of the f-BRS paper."""

    max_clicks: int = 20
    iou_thresholds: tuple[float, ...] = (0.8, 0.85, 0.9)
    pred_thresh: float = 0.49
    full_curve: bool = False
    max_samples: int | None = None  # the first N samples, in the dataset's (sorted) order

    def __post_init__(self) -> None:
        if isinstance(self.max_clicks, bool) or self.max_clicks < 1:
            raise ValueError(f"max_clicks must be a positive integer, got {self.max_clicks!r}")
        thresholds = tuple(float(t) for t in self.iou_thresholds)
        if not thresholds:
            raise ValueError("iou_thresholds must hold at least one threshold")
        for t in thresholds:
            if not 0.0 < t <= 1.0:
                raise ValueError(f"IoU threshold {t!r} must lie in (0, 1]")
        object.__setattr__(self, "iou_thresholds", thresholds)
        if not 0.0 <= self.pred_thresh < 1.0:
            raise ValueError(f"pred_thresh {self.pred_thresh!r} must lie in [0, 1)")
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError(f"max_samples must be None or at least 1, got {self.max_samples!r}")

    @property
    def stop_iou(self) -> float:
        """A sample stops once its IoU reaches this (unless ``full_curve``)."""
        return max(self.iou_thresholds)


@dataclass
class SampleResult:
    """The clicks made on one object and the IoU after each of them."""

    name: str
    clicks: list[tuple[int, int, bool]]
    ious: list[float]
    seconds: float  # time spent in predict() for this sample
    #: Per click: did the prediction right after it put the clicked pixel on the click's side?
    #: (None in results written before this was recorded.)
    satisfied: list[bool] | None = None


@dataclass
class EvaluationResult:
    """Per-sample click records of one method on one dataset, with the derived metrics."""

    dataset: str
    method: str
    settings: EvalSettings
    samples: list[SampleResult]
    elapsed: float  # wall-clock seconds of the whole run

    @property
    def _all_ious(self) -> list[list[float]]:
        return [s.ious for s in self.samples]

    def has_threshold(self, threshold: float) -> bool:
        """Whether this run can score ``threshold``: samples must not have stopped below it."""
        return self.settings.full_curve or threshold <= self.settings.stop_iou + 1e-9

    def _check_threshold(self, threshold: float) -> None:
        if not self.has_threshold(threshold):
            raise ValueError(
                f"NoC@{threshold:g} cannot be read from this run: samples stopped at IoU "
                f">= {self.settings.stop_iou:g}; rerun with that threshold or with full_curve"
            )

    def noc(self, threshold: float) -> float:
        """Mean number of clicks to reach ``threshold``."""
        self._check_threshold(threshold)
        means, _ = noc_summary(self._all_ious, [threshold], self.settings.max_clicks)
        return means[0]

    def failures(self, threshold: float) -> int:
        """Samples whose NoC at ``threshold`` equals max_clicks (upstream's ">=N@t")."""
        self._check_threshold(threshold)
        _, failures = noc_summary(self._all_ious, [threshold], self.settings.max_clicks)
        return failures[0]

    def satisfaction_curve(self) -> list[float | None] | None:
        """Share of satisfied k-th clicks (see :func:`.metrics.satisfaction_curve`), or None
        when the records predate it."""
        flags = [s.satisfied for s in self.samples]
        if any(f is None for f in flags):
            return None
        return satisfaction_curve([f for f in flags if f is not None], self.settings.max_clicks)

    def miou_curve(self) -> np.ndarray:
        """mIoU after 1..max_clicks clicks, stopped samples carried forward."""
        return miou_curve(self._all_ious, self.settings.max_clicks)

    @property
    def num_clicks(self) -> int:
        return sum(len(s.ious) for s in self.samples)

    @property
    def seconds_per_click(self) -> float:
        clicks = self.num_clicks
        return sum(s.seconds for s in self.samples) / clicks if clicks else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: settings, summary numbers and every sample's clicks and IoUs."""
        settings = asdict(self.settings)
        settings["iou_thresholds"] = list(self.settings.iou_thresholds)
        thresholds = [t for t in self.settings.iou_thresholds if self.has_threshold(t)]
        return {
            "format": RESULT_FORMAT,
            "format_version": RESULT_FORMAT_VERSION,
            "dataset": self.dataset,
            "method": self.method,
            "settings": settings,
            "summary": {
                "num_samples": len(self.samples),
                "num_clicks": self.num_clicks,
                "seconds_per_click": self.seconds_per_click,
                "elapsed_seconds": self.elapsed,
                "noc": {f"{t:g}": self.noc(t) for t in thresholds},
                "failures": {f"{t:g}": self.failures(t) for t in thresholds},
                "miou": [float(v) for v in self.miou_curve()],
                "click_satisfaction": self.satisfaction_curve(),
            },
            "samples": [
                {
                    "name": s.name,
                    "clicks": [[int(r), int(c), bool(p)] for r, c, p in s.clicks],
                    "ious": [float(v) for v in s.ious],
                    "seconds": s.seconds,
                    **({} if s.satisfied is None else {"satisfied": list(s.satisfied)}),
                }
                for s in self.samples
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        """Rebuild a result from :meth:`to_dict` output (the summary is recomputed)."""
        if data.get("format") != RESULT_FORMAT:
            raise ValueError(f"not a {RESULT_FORMAT} result (format={data.get('format')!r})")
        if data.get("format_version") != RESULT_FORMAT_VERSION:
            raise ValueError(
                f"unsupported result format_version {data.get('format_version')!r}; "
                f"this version reads {RESULT_FORMAT_VERSION}"
            )
        try:
            settings = dict(data["settings"])
            settings["iou_thresholds"] = tuple(settings["iou_thresholds"])
            samples = [
                SampleResult(
                    name=str(s["name"]),
                    clicks=[(int(r), int(c), bool(p)) for r, c, p in s["clicks"]],
                    ious=[float(v) for v in s["ious"]],
                    seconds=float(s["seconds"]),
                    satisfied=(
                        None if s.get("satisfied") is None else [bool(v) for v in s["satisfied"]]
                    ),
                )
                for s in data["samples"]
            ]
            return cls(
                dataset=str(data["dataset"]),
                method=str(data["method"]),
                settings=EvalSettings(**settings),
                samples=samples,
                elapsed=float(data["summary"]["elapsed_seconds"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed evaluation result: {error!r}") from error

"""Typed predictor settings and the two named presets.

Defaults reproduce the original f-BRS code: ``eval`` is ``scripts/evaluate_model.py`` and
``demo`` is the Tk demo's start-up state. Everything a user can change in the widget or on the
command line is a field here; nothing is read from nested dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Literal


class BRSMode(str, Enum):
    """Backpropagating-refinement variant: what L-BFGS-B optimises after each click."""

    NoBRS = "NoBRS"
    RGB_BRS = "RGB-BRS"
    DistMap_BRS = "DistMap-BRS"
    fBRS_A = "f-BRS-A"
    fBRS_B = "f-BRS-B"
    fBRS_C = "f-BRS-C"

    @classmethod
    def parse(cls, value: str | BRSMode) -> BRSMode:
        if isinstance(value, BRSMode):
            return value
        for mode in cls:
            if value.lower() == mode.value.lower():
                return mode
        raise ValueError(
            f"unknown BRS mode {value!r}; choose one of {', '.join(m.value for m in cls)}"
        )

    @property
    def is_feature_brs(self) -> bool:
        return self in (BRSMode.fBRS_A, BRSMode.fBRS_B, BRSMode.fBRS_C)

    @property
    def is_input_brs(self) -> bool:
        return self in (BRSMode.RGB_BRS, BRSMode.DistMap_BRS)

    @property
    def variant(self) -> str:
        """f-BRS variant letter (A, B or C)."""
        return self.value[-1]

    @property
    def default_net_clicks_limit(self) -> int | None:
        if self.is_feature_brs:
            return 8
        if self.is_input_brs:
            return 5
        return None


@dataclass(frozen=True)
class ZoomInConfig:
    """Crop around the current object and resize the crop to ``target_size`` (longest side)."""

    target_size: int = 400
    skip_clicks: int = 1
    expansion_ratio: float = 1.4
    min_crop_size: int = 200
    recompute_thresh_iou: float = 0.5
    prob_thresh: float = 0.5


@dataclass(frozen=True)
class LBFGSConfig:
    """scipy L-BFGS-B settings; ``maxiter`` defaults to ``2 * maxfun`` as in the original."""

    maxfun: int = 20
    m: int = 20
    factr: float = 0.0
    pgtol: float = 1e-8
    maxiter: int | None = None

    @property
    def effective_maxiter(self) -> int:
        return self.maxiter if self.maxiter is not None else 2 * self.maxfun


@dataclass(frozen=True)
class BRSLossConfig:
    """Objective of the refinement: click-consistency loss plus an L2 penalty."""

    reg_weight: float = 1e-3
    reg_bias_weight: float = 10.0
    eps: float = 1e-5
    min_iou_diff: float = 0.01
    optimize_after_n_clicks: int = 1
    flip_average: bool = False


@dataclass(frozen=True)
class PredictorConfig:
    """Everything that changes what the predictor computes."""

    mode: BRSMode = BRSMode.fBRS_B
    prob_thresh: float = 0.49
    with_flip: bool = True
    net_clicks_limit: int | None | Literal["default"] = "default"
    max_size: int | None = None
    zoom_in: ZoomInConfig | None = field(default_factory=ZoomInConfig)
    lbfgs: LBFGSConfig = field(default_factory=LBFGSConfig)
    brs: BRSLossConfig = field(default_factory=BRSLossConfig)
    # Opt-in: BatchNorm folded into convolutions and channels-last weights (about 20 % faster
    # on CPU; probabilities move by ~1e-4 because float32 rounding differs, see model.fusion).
    fast: bool = False

    @property
    def effective_net_clicks_limit(self) -> int | None:
        if self.net_clicks_limit == "default":
            return self.mode.default_net_clicks_limit
        return self.net_clicks_limit

    def with_changes(self, **changes: object) -> PredictorConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


PRESETS = ("demo", "eval")

#: Side of the local window on images larger than the demo preset's size limit: a click there
#: costs what it costs on a 512-px image (benchmarks/bench_large.py: 1.1x from 512 to 16000
#: px; 800 px would be 2x).
DEFAULT_LOCAL_WINDOW = 512


def demo_preset(mode: BRSMode | str = BRSMode.fBRS_B) -> PredictorConfig:
    """The interactive demo: f-BRS-B, ZoomIn to 480 px, images limited to 800 px."""
    mode = BRSMode.parse(mode)
    return PredictorConfig(
        mode=mode,
        prob_thresh=0.5,
        net_clicks_limit=None if mode is BRSMode.NoBRS else 8,
        max_size=800,
        zoom_in=ZoomInConfig(target_size=480),
        lbfgs=LBFGSConfig(maxfun=20),
        brs=BRSLossConfig(min_iou_diff=1e-3),
    )


def eval_preset(
    mode: BRSMode | str = BRSMode.fBRS_B, dataset: str | None = None
) -> PredictorConfig:
    """NoC evaluation: threshold 0.49, ZoomIn to 400 px (600 for DAVIS), no size limit."""
    mode = BRSMode.parse(mode)
    target = 600 if dataset is not None and dataset.lower() == "davis" else 400
    return PredictorConfig(
        mode=mode,
        prob_thresh=0.49,
        net_clicks_limit="default",
        max_size=None,
        zoom_in=ZoomInConfig(target_size=target),
        lbfgs=LBFGSConfig(maxfun=20),
        brs=BRSLossConfig(min_iou_diff=0.01),
    )


def preset(
    name: str, mode: BRSMode | str = BRSMode.fBRS_B, dataset: str | None = None
) -> PredictorConfig:
    if name == "demo":
        return demo_preset(mode)
    if name == "eval":
        return eval_preset(mode, dataset)
    raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")


@dataclass(frozen=True)
class UserSettings:
    """What a user can choose, in the widget or on the command line, before it becomes a
    :class:`PredictorConfig`: a preset plus optional overrides (``None`` keeps the preset's
    value; for ``max_size`` and ``net_clicks`` 0 means no limit)."""

    mode: BRSMode | str = BRSMode.fBRS_B
    preset: str = "demo"
    zoom_in: bool | None = None
    zoom_in_target: int | None = None
    zoom_in_skip_clicks: int | None = None
    zoom_in_expand: float | None = None
    max_size: int | None = None
    net_clicks: int | None = None
    lbfgs_max_iters: int | None = None
    min_iou_diff: float | None = None
    prob_thresh: float | None = None
    fast: bool = False


def predictor_config(settings: UserSettings, dataset: str | None = None) -> PredictorConfig:
    """The one translation of user settings into predictor settings (widget and CLI).

    Raises ValueError for ZoomIn parameters given together with ``zoom_in=False``.
    """
    s = settings
    config = preset(s.preset, s.mode, dataset)
    zoom_changes = {
        name: value
        for name, value in (
            ("target_size", s.zoom_in_target),
            ("skip_clicks", s.zoom_in_skip_clicks),
            ("expansion_ratio", s.zoom_in_expand),
        )
        if value is not None
    }
    if s.zoom_in is False:
        if zoom_changes:
            raise ValueError("ZoomIn target / skip clicks / expansion contradict ZoomIn off")
        config = config.with_changes(zoom_in=None)
    elif zoom_changes or s.zoom_in:
        config = config.with_changes(
            zoom_in=replace(config.zoom_in or ZoomInConfig(), **zoom_changes)
        )
    if s.max_size is not None:
        config = config.with_changes(max_size=s.max_size or None)
    if s.net_clicks is not None:
        config = config.with_changes(net_clicks_limit=s.net_clicks or None)
    if s.lbfgs_max_iters is not None:
        config = config.with_changes(lbfgs=replace(config.lbfgs, maxfun=s.lbfgs_max_iters))
    if s.min_iou_diff is not None:
        config = config.with_changes(brs=replace(config.brs, min_iou_diff=s.min_iou_diff))
    if s.prob_thresh is not None:
        config = config.with_changes(prob_thresh=s.prob_thresh)
    if s.fast:
        config = config.with_changes(fast=True)
    return config

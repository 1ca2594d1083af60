"""Predictor options shared by ``predict`` and ``evaluate``: a preset plus overrides."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from napari_fbrs.cli.common import brs_mode, float_in, int_at_least
from napari_fbrs.inference.engine.config import PRESETS, BRSMode, UserSettings, predictor_config

if TYPE_CHECKING:
    from napari_fbrs.inference.engine.config import PredictorConfig

_PRESET_HELP = (
    "demo (default): upstream's interactive demo, ZoomIn to 480, max size 800, threshold 0.5; "
    "eval: upstream's NoC evaluation, ZoomIn to 400, no size limit, threshold 0.49"
)
# flag, parser, metavar, help; [x/y] are the demo/eval preset values
_TUNING_OPTIONS = (
    ("--zoom-in-target", int_at_least(16), "N", "longest side of the resized crop [480/400]"),
    ("--zoom-in-skip-clicks", int_at_least(0), "N", "clicks before ZoomIn starts [1]"),
    ("--zoom-in-expand", float_in(1.0, 100.0), "F", "ZoomIn box expansion factor [1.4]"),
    ("--max-size", int_at_least(0), "N", "longest side in px, 0 = no limit [800/0]"),
    ("--net-clicks", int_at_least(0), "N", "network input clicks, 0 = all [8, input BRS 5]"),
    ("--lbfgs-max-iters", int_at_least(1), "N", "L-BFGS-B evaluations per click (maxfun) [20]"),
    (
        "--min-iou-diff",
        float_in(0.0, 1.0),
        "F",
        "L-BFGS-B stops below this IoU change [1e-3/0.01]",
    ),
    ("--prob-thresh", float_in(0.0, 1.0, open_low=True), "F", "object threshold [0.5/0.49]"),
)


def add_predictor_options(parser: argparse.ArgumentParser, default_preset: str = "demo") -> None:
    """The options :func:`predictor_config_from_args` reads; each overrides one preset value."""
    group = parser.add_argument_group(
        "predictor", "The preset gives every default; each option below overrides one value."
    )
    modes = "{" + ",".join(m.value for m in BRSMode) + "}"
    group.add_argument("--mode", type=brs_mode, default="f-BRS-B", metavar=modes, help="[f-BRS-B]")
    group.add_argument("--preset", choices=PRESETS, default=default_preset, help=_PRESET_HELP)
    group.add_argument(
        "--zoom-in", action=argparse.BooleanOptionalAction, help="crop around the object [on]"
    )
    for flag, parse, metavar, text in _TUNING_OPTIONS:
        group.add_argument(flag, type=parse, metavar=metavar, help=text)
    group.add_argument(
        "--fast",
        action="store_true",
        help="BatchNorm folding + channels-last weights: ~20%% faster on CPU, probabilities "
        "differ from the reference computation by ~1e-4 [off]",
    )


def predictor_config_from_args(
    args: argparse.Namespace, dataset: str | None = None
) -> PredictorConfig:
    """The preset named by ``args.preset`` with every option the user gave applied on top.

    The options become the same :class:`UserSettings` the widget's panel produces and go
    through the one translation, :func:`predictor_config`. Options that are absent from
    ``args`` or None keep the preset's value, so a parser with only some of the options works
    too. Raises ValueError for ZoomIn settings with --no-zoom-in.
    """

    def given(name: str) -> Any:
        return getattr(args, name, None)

    settings = UserSettings(
        mode=given("mode") or BRSMode.fBRS_B,
        preset=given("preset") or "demo",
        zoom_in=given("zoom_in"),
        zoom_in_target=given("zoom_in_target"),
        zoom_in_skip_clicks=given("zoom_in_skip_clicks"),
        zoom_in_expand=given("zoom_in_expand"),
        max_size=given("max_size"),
        net_clicks=given("net_clicks"),
        lbfgs_max_iters=given("lbfgs_max_iters"),
        min_iou_diff=given("min_iou_diff"),
        prob_thresh=given("prob_thresh"),
        fast=bool(given("fast")),
    )
    try:
        return predictor_config(settings, dataset)
    except ValueError as exc:
        if "contradict" in str(exc):
            raise ValueError(
                "--zoom-in-target/-skip-clicks/-expand contradict --no-zoom-in"
            ) from None
        raise

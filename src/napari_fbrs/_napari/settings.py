"""The widget's settings panels (magicgui) and their translation into a ``PredictorConfig``.

Two kinds of settings, treated differently on purpose:

* computation (BRS mode, ZoomIn and its parameters, network clicks, L-BFGS iterations, device):
  they change what the predictor computes, so, as in the upstream demo, they apply from the
  next object on; the object being built keeps the settings it started with.
* display (threshold, mask opacity, click size, paint over): they apply at once; the
  threshold re-thresholds the current probability map without running the network.

Defaults are ``demo_preset`` (the upstream demo's start-up state).
"""

from __future__ import annotations

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSlider, FloatSpinBox, SpinBox

from napari_fbrs.inference.engine.config import (
    DEFAULT_LOCAL_WINDOW,
    BRSMode,
    PredictorConfig,
    UserSettings,
    ZoomInConfig,
    demo_preset,
    predictor_config,
)
from napari_fbrs.inference.session.painting import REPLACE_RATIO
from napari_fbrs.inference.stacks.propagation import PropagationConfig

from .layers import DEFAULT_CLICK_SIZE, DEFAULT_OPACITY

NEXT_OBJECT_NOTE = "Computation settings apply from the next object on."


class ComputeSettings(Container):
    """BRS mode, ZoomIn, network clicks, L-BFGS iterations and device."""

    def __init__(self) -> None:
        base = demo_preset()
        zoom = base.zoom_in or ZoomInConfig()
        self.mode = ComboBox(
            label="BRS mode", choices=[m.value for m in BRSMode], value=base.mode.value
        )
        self.zoom_in = CheckBox(text="ZoomIn", value=base.zoom_in is not None)
        self.zoom_target = SpinBox(
            label="ZoomIn target size", min=100, max=2000, value=zoom.target_size
        )
        self.zoom_skip = SpinBox(label="ZoomIn skip clicks", min=0, max=50, value=1)
        self.zoom_expand = FloatSpinBox(
            label="ZoomIn expansion", min=1.0, max=3.0, step=0.1, value=zoom.expansion_ratio
        )
        limit = base.effective_net_clicks_limit
        self.net_clicks = SpinBox(
            label="Network clicks (0 = all)", min=0, max=100, value=limit or 0
        )
        self.lbfgs_iters = SpinBox(
            label="L-BFGS max iterations", min=1, max=1000, value=base.lbfgs.maxfun
        )
        # the accelerators are listed once torch is loaded (in the worker, never here)
        self.device = ComboBox(label="Device", choices=["auto", "cpu"])
        self.fast = CheckBox(text="Fast inference", value=base.fast)
        self.local_window = SpinBox(
            label="Local window, px (0 = off)", min=0, max=16384, value=DEFAULT_LOCAL_WINDOW
        )
        self.local_window.tooltip = (
            "Images larger than 800 px: a click runs on a window of about this size around the "
            "object, at full resolution, growing with it (lazy dask/zarr images are read only "
            "there). 0: the whole image shrunk to 800 px, the original behaviour."
        )
        self.fast.tooltip = (
            "BatchNorm folded into the convolutions and channels-last weights: about 20 % "
            "faster on CPU; probabilities differ from the reference computation by ~1e-4."
        )
        super().__init__(
            widgets=[
                self.mode,
                self.zoom_in,
                self.zoom_target,
                self.zoom_skip,
                self.zoom_expand,
                self.net_clicks,
                self.lbfgs_iters,
                self.device,
                self.fast,
                self.local_window,
            ],
            labels=True,
        )
        self.tooltip = NEXT_OBJECT_NOTE
        self.mode.changed.connect(self._enable)
        self.zoom_in.changed.connect(self._enable)
        self._enable()

    def offer_devices(self) -> None:
        """List this machine's devices (call it once torch is imported: it is slow)."""
        from napari_fbrs.model.device import available_devices

        choices = ["auto", *available_devices()]
        if list(self.device.choices) != choices:
            self.device.choices = choices

    def _enable(self) -> None:
        brs = BRSMode.parse(self.mode.value) is not BRSMode.NoBRS
        self.net_clicks.enabled = brs  # NoBRS feeds every click to the network
        self.lbfgs_iters.enabled = brs
        for widget in (self.zoom_target, self.zoom_skip, self.zoom_expand):
            widget.enabled = bool(self.zoom_in.value)

    def to_settings(self) -> UserSettings:
        """The panel's values as the user settings the CLI's options also produce."""
        mode = BRSMode.parse(self.mode.value)
        zoom = bool(self.zoom_in.value)
        return UserSettings(
            mode=mode,
            preset="demo",
            zoom_in=zoom,
            zoom_in_target=int(self.zoom_target.value) if zoom else None,
            zoom_in_skip_clicks=int(self.zoom_skip.value) if zoom else None,
            zoom_in_expand=float(self.zoom_expand.value) if zoom else None,
            net_clicks=None if mode is BRSMode.NoBRS else int(self.net_clicks.value),
            lbfgs_max_iters=int(self.lbfgs_iters.value),
            fast=bool(self.fast.value),
        )

    def to_config(self) -> PredictorConfig:
        return predictor_config(self.to_settings())


def _ratio_box(label: str, value: float) -> FloatSpinBox:
    """A 0..1 threshold of a stop rule, in steps of 0.05."""
    return FloatSpinBox(label=label, min=0.0, max=1.0, step=0.05, value=value)


class PropagationSettings(Container):
    """The stop rules of "Propagate" (``inference.stacks.propagation.PropagationConfig``),
    settable."""

    def __init__(self) -> None:
        defaults = PropagationConfig()
        self.min_iou = _ratio_box("Stop below IoU with the previous slice", defaults.min_iou)
        self.min_area_ratio = _ratio_box("Stop below area ratio", defaults.min_area_ratio)
        self.min_contrast = _ratio_box(
            "Stop below contrast ratio (0 = off)", defaults.min_contrast_ratio
        )
        self.min_contrast.tooltip = (
            "Stop where the object stands out from its surroundings less than this fraction "
            "of its contrast on the clicked slice: it has faded into the background"
        )
        self.max_slices = SpinBox(label="Slices each way (0 = all)", min=0, max=100_000, value=0)
        super().__init__(
            widgets=[self.min_iou, self.min_area_ratio, self.min_contrast, self.max_slices]
        )

    def to_config(self) -> PropagationConfig:
        return PropagationConfig(
            max_slices=int(self.max_slices.value) or None,
            min_iou=float(self.min_iou.value),
            min_area_ratio=float(self.min_area_ratio.value),
            min_contrast_ratio=float(self.min_contrast.value),
        )


class DisplaySettings(Container):
    """Settings that apply immediately and never run the network."""

    def __init__(self) -> None:
        self.threshold = FloatSlider(
            label="Threshold", min=0.0, max=1.0, step=0.01, value=demo_preset().prob_thresh
        )
        self.opacity = FloatSlider(
            label="Mask opacity", min=0.0, max=1.0, step=0.05, value=DEFAULT_OPACITY
        )
        self.click_size = SpinBox(label="Click size", min=1, max=200, value=DEFAULT_CLICK_SIZE)
        self.overwrite = CheckBox(text="Paint over existing labels", value=False)
        self.min_pixels = SpinBox(label="Warn under (px)", min=0, max=100_000, value=10)
        self.replace_ratio = FloatSpinBox(
            label="Replace a label covered", min=0.0, max=1.0, step=0.05, value=REPLACE_RATIO
        )
        self.replace_ratio.tooltip = (
            "A finished object that covers at least this fraction of an existing label "
            "replaces it: same id, its old pixels cleared, one undo step (0 = never)."
        )
        self.min_pixels.tooltip = (
            "Finish warns when an object has fewer pixels than this (0 = never), or grew more "
            "than 4x beyond the structure under its first click."
        )
        super().__init__(
            widgets=[
                self.threshold,
                self.opacity,
                self.click_size,
                self.overwrite,
                self.replace_ratio,
                self.min_pixels,
            ],
            labels=True,
        )
        self.threshold.tooltip = "Re-thresholds the current probability map; no network call."
        self.overwrite.tooltip = (
            "Off: a finished object fills only unlabelled pixels. On: it replaces labels."
        )

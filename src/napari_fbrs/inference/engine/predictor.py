"""The f-BRS predictor: one image, a growing list of clicks, a probability map per call.

``set_image`` normalises the image once; ``predict(clicks)`` maps the clicks through ZoomIn and
LimitLongestSide, runs the network (and, for BRS modes, L-BFGS-B on the refinement variables),
and maps the probabilities back to image resolution. Everything that carries over between
clicks (transform regions, previous probabilities, the BRS variables, cached backbone features)
is captured by ``get_state`` and restored by ``set_state``, so undo is exact.

What a click costs: f-BRS re-runs the backbone while the number of clicks is at most the
network-clicks limit (the clicks are network inputs), then keeps the backbone features and only
re-optimises the light head; RGB-/DistMap-BRS back-propagate through the whole network at every
L-BFGS evaluation. The normalised image, the resized image and the ZoomIn crop are cached.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from napari_fbrs.inference.engine.brs import (
    BRSObjective,
    click_masks,
    run_lbfgs,
    unpack_input_bias,
    unpack_scale_bias,
)
from napari_fbrs.inference.engine.clicks import Click, check_inside
from napari_fbrs.inference.engine.config import BRSMode, PredictorConfig
from napari_fbrs.inference.engine.maps import ProbabilityMap
from napari_fbrs.inference.engine.transforms import HorizontalFlip, LimitLongestSide, ZoomIn
from napari_fbrs.model.dist_maps import encode_points
from napari_fbrs.model.fusion import fast_inference_model
from napari_fbrs.model.is_model import BRSFeatures, InteractiveModel
from napari_fbrs.threads import threads_for_click


@dataclass
class ClickStats:
    """Diagnostics of the last ``predict`` call."""

    seconds: float = 0.0
    lbfgs_evals: int = 0
    zoom_roi: tuple[int, int, int, int] | None = None
    backbone_runs: int = 0
    #: torch threads the click ran with when they were chosen per click, else None
    threads: int | None = None


@dataclass(frozen=True)
class PredictorState:
    """An opaque snapshot for undo."""

    transforms: tuple[Any, ...]
    opt_data: np.ndarray | None
    features: tuple[Any, ...] | None = field(default=None, compare=False)
    prev_probs: torch.Tensor | None = field(default=None, compare=False)


def _resize_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=True)


class Predictor:
    """Stateful f-BRS inference on one image. Takes a built model, never a path."""

    def __init__(
        self,
        model: InteractiveModel,
        config: PredictorConfig | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.config = config or PredictorConfig()
        self.model = fast_inference_model(model) if self.config.fast else model
        self.device = (
            torch.device(device) if device is not None else next(model.parameters()).device
        )
        self.mode = self.config.mode
        self.net_clicks_limit = self.config.effective_net_clicks_limit
        self.zoom_in = ZoomIn(self.config.zoom_in) if self.config.zoom_in is not None else None
        self.limit_side = (
            LimitLongestSide(self.config.max_size) if self.config.max_size is not None else None
        )
        self.flip = HorizontalFlip() if self.config.with_flip else None
        self._geometric = [t for t in (self.zoom_in, self.limit_side) if t is not None]
        self.brs_point: str | None = (
            self.model.insertion_point(self.mode.variant) if self.mode.is_feature_brs else None
        )
        self.image: torch.Tensor | None = None
        self.last = ClickStats()
        self._reset_click_state()

    # -- image and state ---------------------------------------------------------------------
    def set_image(self, image: np.ndarray | torch.Tensor) -> None:
        """``image``: ``H x W x 3`` RGB, uint8 or float in 0..255 (see ``io.images``)."""
        array = (
            torch.as_tensor(np.ascontiguousarray(image))
            if isinstance(image, np.ndarray)
            else image
        )
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"expected an H x W x 3 RGB image, got shape {tuple(array.shape)}")
        chw = array.permute(2, 0, 1).unsqueeze(0).to(self.device)
        with torch.no_grad():
            self.image = self.model.normalize(chw).contiguous()
        self.reset()

    @property
    def image_shape(self) -> tuple[int, int]:
        if self.image is None:
            raise RuntimeError("set_image() has not been called")
        return int(self.image.shape[2]), int(self.image.shape[3])

    def reset(self) -> None:
        """Forget everything about the current object (keeps the image)."""
        for t in self._geometric:
            t.reset()
        self._reset_click_state()

    def _reset_click_state(self) -> None:
        self.opt_data: np.ndarray | None = None
        # The last prediction at image resolution, for models that take it as an input.
        self._prev_probs: torch.Tensor | None = None
        self._features: BRSFeatures | None = None
        self._features_key: tuple[torch.Tensor, ...] | None = None

    def get_state(self) -> PredictorState:
        features = (self._features, self._features_key) if self._features is not None else None
        transforms = tuple(t.get_state() for t in self._geometric)
        return PredictorState(transforms, self.opt_data, features, self._prev_probs)

    def set_state(self, state: PredictorState) -> None:
        for t, s in zip(self._geometric, state.transforms, strict=True):
            t.set_state(s)
        self.opt_data = state.opt_data
        self._features, self._features_key = (
            state.features if state.features is not None else (None, None)
        )
        self._prev_probs = state.prev_probs

    def set_previous_mask(self, probs: np.ndarray | None) -> None:
        """Start the object from an existing mask (``H x W`` probabilities in 0..1).

        Models that take the previous prediction as an input (:attr:`uses_prev_mask`) see it
        at the next click, as if they had predicted it themselves: an existing label can be
        corrected, or a neighbouring slice's object continued. Other models ignore it.
        """
        if probs is None:
            self._prev_probs = None
            return
        probs = np.asarray(probs, dtype=np.float32)
        if probs.shape != self.image_shape:
            raise ValueError(f"mask shape {probs.shape} differs from image {self.image_shape}")
        if self.model.uses_prev_mask:
            self._prev_probs = torch.from_numpy(np.clip(probs, 0, 1)).view(1, 1, *probs.shape)

    def seed_zoom(self, region: np.ndarray) -> None:
        """ZoomIn crops around ``region`` (``H x W``, > 0.5 inside: an existing mask or a box)
        from the first click of the object on; without ZoomIn, nothing changes."""
        region = np.asarray(region, dtype=np.float32)
        if region.shape != self.image_shape:
            raise ValueError(f"region shape {region.shape} differs from image {self.image_shape}")
        if self.zoom_in is not None:
            self.zoom_in.seed(torch.from_numpy(np.clip(region, 0, 1)).view(1, 1, *region.shape))

    @property
    def prob_thresh(self) -> float:
        """The threshold that turns these probabilities into the mask (the config's)."""
        return float(self.config.prob_thresh)

    @property
    def uses_prev_mask(self) -> bool:
        return bool(self.model.uses_prev_mask)

    # -- prediction --------------------------------------------------------------------------
    def predict_map(self, clicks: Sequence[Click]) -> ProbabilityMap:
        """:meth:`predict` as a :class:`ProbabilityMap` covering the whole image."""
        return ProbabilityMap.whole(self.predict(clicks))

    def predict(self, clicks: Sequence[Click]) -> np.ndarray:
        """Probability map ``H x W`` (float32) for the object the clicks describe."""
        if self.image is None:
            raise RuntimeError("set_image() must be called before predict()")
        if not clicks:
            raise ValueError("predict() needs at least one click")
        height, width = self.image_shape
        check_inside(clicks, height, width)
        start = time.perf_counter()
        self.last = ClickStats(threads=threads_for_click())  # the cores free right now
        with torch.no_grad():
            probs = self._predict(tuple(clicks), self._prev_input())
        if self.model.uses_prev_mask:
            self._prev_probs = torch.from_numpy(probs.copy()).view(1, 1, *probs.shape)
        self.last.seconds = time.perf_counter() - start
        self.last.zoom_roi = self.zoom_in.roi if self.zoom_in is not None else None
        return probs

    def _prev_input(self) -> torch.Tensor | None:
        """The previous prediction as a network input (zeros before the first click)."""
        if not self.model.uses_prev_mask:
            return None
        if self._prev_probs is None:
            assert self.image is not None
            return self.image.new_zeros((1, 1, *self.image.shape[2:]))
        return self._prev_probs.to(self.device)

    def _predict(self, clicks: tuple[Click, ...], prev: torch.Tensor | None) -> np.ndarray:
        assert self.image is not None
        image, mapped, changed, net_prev = self.image, clicks, False, prev
        for t in self._geometric:
            image, mapped = t.transform(image, mapped)
            changed |= t.image_changed
            if net_prev is not None:
                net_prev = t.transform_map(net_prev)
        clicks_lists: list[tuple[Click, ...]] = [mapped]
        batch = image
        if self.flip is not None:
            batch, clicks_lists = self.flip.transform(image, clicks_lists)
            if net_prev is not None:
                net_prev = torch.cat([net_prev, torch.flip(net_prev, dims=[3])], dim=0)

        logits = self._logits(batch, clicks_lists, changed, net_prev)
        if self.flip is not None:
            logits = self.flip.inverse(logits)
        probs = torch.sigmoid(logits)
        for t in reversed(self._geometric):
            probs = t.inverse(probs)
        if self.zoom_in is not None and self.zoom_in.needs_recalculation():
            return self._predict(clicks, prev)
        return probs[0, 0].detach().cpu().numpy()

    def _points(self, clicks_lists: Sequence[Sequence[Click]]) -> torch.Tensor:
        """Encode clicks for the network: at most ``net_clicks_limit`` first clicks, padded."""
        limit = self.net_clicks_limit
        num_pos = [sum(c.positive for c in cl) for cl in clicks_lists]
        num_neg = [len(cl) - p for cl, p in zip(clicks_lists, num_pos, strict=True)]
        slots = max(num_pos + num_neg)
        if limit is not None:
            slots = min(limit, slots)
        slots = max(1, slots)
        kept = [cl[:limit] for cl in clicks_lists]
        pos = [[c.coords for c in cl if c.positive] for cl in kept]
        neg = [[c.coords for c in cl if not c.positive] for cl in kept]
        return encode_points(pos, neg, slots, self.device)

    def _logits(
        self,
        batch: torch.Tensor,
        clicks_lists: list[tuple[Click, ...]],
        changed: bool,
        prev: torch.Tensor | None,
    ) -> torch.Tensor:
        if self.mode is BRSMode.NoBRS:
            self.last.backbone_runs += 1
            return self.model(batch, self._points(clicks_lists), prev)["instances"]
        if self.mode.is_feature_brs:
            return self._feature_brs(batch, clicks_lists, changed, prev)
        return self._input_brs(batch, clicks_lists, changed, prev)

    def _brs_objective(self, logits_fn, unpack, batch: torch.Tensor, clicks_lists) -> BRSObjective:  # noqa: ANN001
        pos_mask, neg_mask = click_masks(clicks_lists, batch.shape[2], batch.shape[3])
        return BRSObjective(
            logits_fn,
            unpack,
            pos_mask.to(self.device),
            neg_mask.to(self.device),
            self.config.prob_thresh,
            self.config.brs,
            self.device,
        )

    def _optimise(self, objective: BRSObjective, num_clicks: int) -> None:
        if num_clicks > self.config.brs.optimize_after_n_clicks:
            assert self.opt_data is not None
            self.opt_data = run_lbfgs(objective, self.opt_data, self.config.lbfgs)
            self.last.lbfgs_evals = objective.evaluations

    def _feature_brs(
        self,
        batch: torch.Tensor,
        clicks_lists: list[tuple[Click, ...]],
        changed: bool,
        prev: torch.Tensor | None,
    ) -> torch.Tensor:
        assert self.brs_point is not None
        point = self.brs_point
        num_clicks = len(clicks_lists[0])
        bs = batch.shape[0] // 2 if self.flip is not None else batch.shape[0]
        channels = self.model.brs_channels(point)
        if self.opt_data is None or self.opt_data.shape[0] // (2 * channels) != bs:
            self.opt_data = np.zeros(bs * 2 * channels, dtype=np.float32)

        limit = self.net_clicks_limit
        if limit is None or num_clicks <= limit or changed or self._features is None:
            self._features = self._backbone_features(
                batch, self._points(clicks_lists), point, prev
            )
        feats = self._features

        def logits_fn(scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            scale, bias = scale.view(bs, -1, 1, 1), bias.view(bs, -1, 1, 1)
            if self.flip is not None:
                scale, bias = scale.repeat(2, 1, 1, 1), bias.repeat(2, 1, 1, 1)
            features = feats.features * scale + bias
            return _resize_to(self.model.logits_from_features(feats, features, point), batch)

        unpack = unpack_scale_bias(self.config.brs.reg_weight, self.config.brs.reg_bias_weight)
        return self._solve(logits_fn, unpack, batch, clicks_lists)

    def _backbone_features(
        self, batch: torch.Tensor, points: torch.Tensor, point: str, prev: torch.Tensor | None
    ) -> BRSFeatures:
        """Features at the insertion point; reused when the network input is unchanged."""
        key = self._features_key
        new_key = (batch, points) if prev is None else (batch, points, prev)
        if (
            self._features is not None
            and key is not None
            and len(key) == len(new_key)
            and all(
                a.shape == b.shape and torch.equal(a, b) for a, b in zip(key, new_key, strict=True)
            )
        ):
            return self._features
        self.last.backbone_runs += 1
        x = self.model.mix_clicks(batch, points, prev)
        feats = self.model.features_for_brs(x, point)
        self._features_key = new_key
        return feats

    def _input_brs(
        self,
        batch: torch.Tensor,
        clicks_lists: list[tuple[Click, ...]],
        changed: bool,
        prev: torch.Tensor | None,
    ) -> torch.Tensor:
        points = self._points(clicks_lists)
        bs = batch.shape[0] // 2 if self.flip is not None else batch.shape[0]
        on_rgb = self.mode is BRSMode.RGB_BRS
        shape = (bs, 3 if on_rgb else 2, batch.shape[2], batch.shape[3])
        if self.opt_data is None or changed:
            self.opt_data = np.zeros(int(np.prod(shape)), dtype=np.float32)

        dmaps = self.model.dist_maps(batch, points)  # the same for every L-BFGS evaluation

        def logits_fn(bias: torch.Tensor) -> torch.Tensor:
            self.last.backbone_runs += 1
            if on_rgb:
                x = self.model.mix_maps(batch + bias, dmaps, prev)
            else:  # on the two distance maps (click disks, where a model has them, stay)
                shifted = torch.cat((dmaps[:, :2] + bias, dmaps[:, 2:]), dim=1)
                x = self.model.mix_maps(batch, shifted, prev)
            return _resize_to(self.model.backbone_logits(x), batch)

        unpack = unpack_input_bias(shape, self.flip is not None, self.config.brs.reg_weight)
        return self._solve(logits_fn, unpack, batch, clicks_lists)

    def _solve(
        self,
        logits_fn: Any,
        unpack: Any,
        batch: torch.Tensor,
        clicks_lists: list[tuple[Click, ...]],
    ) -> torch.Tensor:
        """L-BFGS-B on the refinement variables; the logits of the best point it visited."""
        objective = self._brs_objective(logits_fn, unpack, batch, clicks_lists)
        self._optimise(objective, len(clicks_lists[0]))
        if objective.best_logits is not None:
            return objective.best_logits
        variables, _ = unpack(
            torch.from_numpy(np.asarray(self.opt_data, dtype=np.float32)).to(self.device)
        )
        return logits_fn(*variables)

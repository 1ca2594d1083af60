"""What a fine-tuning run does by default, and whether its result is worth keeping.

Both are plain data and pure functions so that the widget, the benchmark
(``benchmarks/bench_finetune.py``) and the tests share them: the defaults were chosen with that
benchmark (see the README), and the keep decision is made on the NoC measured before and after
on the held-out part of the user's own labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class FinetuneSettings:
    """One fine-tuning run: length, optimiser, what learns, and the NoC measurement.

    ``freeze_backbone``: the ImageNet encoder (and its normalisation statistics, which a batch
    of 4 crops of one kind of image would drag away) stays as it is; the click path, decoder
    and classifier adapt. ``validation_samples`` / ``max_clicks`` size the NoC measurement
    before and after: each of the two costs at most ``validation_samples * max_clicks`` NoBRS
    clicks.
    """

    steps: int = 300
    batch_size: int = 4
    crop_size: int = 320
    lr: float = 5e-4
    backbone_lr_mult: float = 0.1
    freeze_backbone: bool = True
    object_zoom_prob: float = 0.5
    validation_samples: int = 10
    max_clicks: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"the number of iterations must be >= 1, got {self.steps}")
        if self.validation_samples < 1 or self.max_clicks < 1:
            raise ValueError("validation_samples and max_clicks must be >= 1")

    @property
    def max_noc_clicks(self) -> int:
        """The most simulated clicks one NoC measurement (before or after) can take."""
        return self.validation_samples * self.max_clicks


class Verdict(Enum):
    """How the fine-tuned model compares with the starting one on the held-out objects."""

    BETTER = "better"
    UNCHANGED = "unchanged"
    WORSE = "worse"
    TOO_FEW = "too few held-out objects"
    UNMEASURED = "unmeasured"

    @property
    def keep_by_default(self) -> bool:
        """Only a measured improvement is offered without asking the user."""
        return self is Verdict.BETTER


#: Below this many held-out objects the NoC comparison is a coin toss: measured with
#: ``benchmarks/bench_finetune.py`` on CCP_person (one person per image), the panel's one
#: held-out person went NoC@85 4 -> 8 while 8 other people of the set went 8.38 -> 6.00.
MIN_VERDICT_OBJECTS = 5


def compare_noc(
    before: dict[str, float], after: dict[str, float], objects: int = MIN_VERDICT_OBJECTS
) -> Verdict:
    """Fewer clicks in total to reach 85 % and 90 % IoU is better; no figure: unmeasured;
    fewer than ``MIN_VERDICT_OBJECTS`` held-out ``objects``: too few to tell.

    The sum of NoC@85 and NoC@90 (of the thresholds both dicts hold) decides: on the ten or
    so held-out objects a panel can afford, one threshold alone flips with a single object
    (measured: DSB2018 nuclei, NoC@85 3.5 -> 4.3 while NoC@90 went 7.4 -> 6.5, and 20 other
    held-out nuclei improved at both).
    """
    keys = [key for key in ("noc@85", "noc@90") if key in before and key in after]
    if not keys:
        return Verdict.UNMEASURED
    if objects < MIN_VERDICT_OBJECTS:
        return Verdict.TOO_FEW
    old, new = sum(before[k] for k in keys), sum(after[k] for k in keys)
    if abs(new - old) < 1e-9:
        return Verdict.UNCHANGED
    return Verdict.BETTER if new < old else Verdict.WORSE


__all__ = ["MIN_VERDICT_OBJECTS", "FinetuneSettings", "Verdict", "compare_noc"]

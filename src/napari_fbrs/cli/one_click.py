"""``predict --one-click-per-object``: many objects from one list of clicks, as a label image.

Dense images (nuclei) cost one click per object in this mode: a positive click outside the
current object finishes it (the next free id, existing labels kept) and starts the next; clicks
on the current object and negative clicks correct it; the last object is finished after the
last click. The same session rule as the widget's checkbox and ``Segmenter``'s attribute
(:mod:`napari_fbrs.inference.session.one_click`), so the same clicks give the same labels.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from napari_fbrs.cli.common import CLIError

if TYPE_CHECKING:
    import numpy as np

    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.inference.session.interactive import InteractiveSession
    from napari_fbrs.inference.session.painting import PaintPlan


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--one-click-per-object",
        action="store_true",
        help="dense objects: a positive click outside the current object finishes it and "
        "starts the next (clicks on it and negative clicks correct it); --output is then a "
        "label image, one id per object (.tif/.tiff, or .png for ids up to 65535)",
    )


def check_args(args: argparse.Namespace) -> None:
    """Refuse combinations that do not make sense, before anything is read or loaded."""
    if not args.one_click_per_object:
        return
    if args.propagate:
        raise CLIError("--one-click-per-object writes a 2-D label image; drop --propagate")
    if args.save_probs is not None:
        raise CLIError("--save-probs holds one object's maps; not with --one-click-per-object")
    if args.output is None:
        raise CLIError("--one-click-per-object needs --output LABELS (.tif, .tiff or .png)")
    if args.box is not None or args.init_mask is not None:
        raise CLIError("--one-click-per-object: objects start from clicks, no --box/--init-mask")


@dataclass(frozen=True)
class Segmented:
    """The label image and what each click did."""

    labels: np.ndarray
    stats: list[tuple[float, int]]  # (network seconds, L-BFGS evaluations) per click
    objects: list[tuple[int, int, int]]  # (id, clicks, pixels) per object painted


def segment(session: InteractiveSession, clicks: tuple[Click, ...]) -> Segmented:
    """Apply the clicks in one-click-per-object mode; finish the last object at the end."""
    import numpy as np
    from tqdm import tqdm

    labels = np.zeros(session.image_shape, np.int32)
    stats: list[tuple[float, int]] = []
    objects: list[tuple[int, int, int]] = []
    count = 0  # clicks of the current object

    def keep(plan: PaintPlan | None) -> None:
        if plan is not None:
            plan.apply_to(labels)
            session.release(labels, plan.label_id)
            objects.append((plan.label_id, count, plan.num_pixels))

    for click in tqdm(clicks, desc="clicks", unit="click", file=sys.stderr):
        done = session.click_one_per_object(click, labels)
        if done.finished is not None:
            keep(done.finished.plan)
            count = 0
        count += 1
        stats.append((done.state.network_seconds, done.state.lbfgs_evals))
    keep(session.finish(labels).plan)
    return Segmented(labels, stats, objects)


def write(output: object, result: Segmented) -> None:
    """Write the label image and say what is in it."""
    from napari_fbrs.cli.common import error_reason
    from napari_fbrs.io.masks import write_labels

    labels = result.labels
    try:
        write_labels(output, labels)
    except OSError as exc:
        raise CLIError(f"--output {output}: cannot write ({error_reason(exc)})") from None
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print("object  clicks  pixels")
    for label_id, clicks, pixels in result.objects:
        print(f"{label_id:>6}  {clicks:>6}  {pixels:>6}")
    height, width = labels.shape
    print(f"wrote {output} ({height} x {width}, {len(result.objects)} objects)")

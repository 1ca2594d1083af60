"""Which predicted masks become objects, and who owns a pixel two masks claim.

A click on background, or on a smear the network is unsure about, gives a faint or unstable
mask: the mean probability inside it is low, and moving the threshold a little changes its
area a lot. The score of a mask is the product of both (confidence x stability), as automatic
mask generators rank masks. Masks are then painted best first; one that is mostly covered
by better ones is a duplicate (a second seed on the same object) and is dropped, otherwise it
gets the pixels nobody owns yet, and what is left must still be at least ``min_area``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from napari_fbrs.inference.dense.crops import CropPrediction
from napari_fbrs.inference.dense.seeds import Seed


@dataclass(frozen=True)
class Candidate:
    """A mask within ``box`` = (row0, col0, row1, col1) and its score."""

    box: tuple[int, int, int, int]
    mask: np.ndarray
    score: float
    confidence: float
    stability: float
    #: the probabilities within the box (for pixels two masks claim)
    probs: np.ndarray
    seed_row: int
    seed_col: int


def _component_at(mask: np.ndarray, row: int, col: int) -> np.ndarray | None:
    """The connected component of ``mask`` holding (row, col), or None when it is off."""
    if not mask[row, col]:
        return None
    components, _ = ndimage.label(mask)
    return components == components[row, col]


def make_candidate(
    pred: CropPrediction,
    prob_thresh: float,
    shift: float,
    foreground: np.ndarray | None = None,
) -> Candidate | None:
    """The seed's object in one crop prediction, scored; None when the click found nothing.

    ``foreground`` (bool, the whole image): where given, the mask is cut to it. The network's
    masks of small nuclei spill over their border by a pixel or two all round (their area is
    1.2-2x the truth on DSB2018/train) where a threshold of the image follows it closely.
    """
    r0, c0, r1, c1 = pred.box
    row, col = pred.seed.row - r0, pred.seed.col - c0
    probs = pred.probs
    if foreground is not None:
        probs = np.where(foreground[r0:r1, c0:c1], probs, np.minimum(probs, prob_thresh - shift))
    mask = _component_at(probs > prob_thresh, row, col)
    if mask is None:
        return None
    loose = _component_at(probs > prob_thresh - shift, row, col)
    assert loose is not None  # the loose mask contains the mask
    strict = np.count_nonzero(loose & (probs > prob_thresh + shift))
    stability = strict / max(np.count_nonzero(loose), 1)
    confidence = float(probs[mask].mean())
    return Candidate(
        pred.box,
        mask,
        confidence * stability,
        confidence,
        stability,
        probs,
        pred.seed.row,
        pred.seed.col,
    )


class Canvas:
    """The objects found so far: who owns each pixel and with what probability.

    Masks are accepted best first. One whose IoU with an accepted object's mask exceeds
    ``max_overlap`` is a duplicate (a second seed on the same object) and is dropped. A pixel
    two accepted masks claim goes to the one with the higher probability there, so touching
    objects split along the network's own boundary instead of "first come, first served".
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        self.owner = np.zeros(shape, dtype=np.int32)
        self.prob = np.zeros(shape, dtype=np.float32)
        self.count = 0
        self.areas = [0]  # each object's mask area when it was accepted
        self.tried = np.zeros(shape, dtype=bool)  # around seeds whose click found nothing

    def mark_tried(self, seed: Seed, share: float = 0.7) -> None:
        """Seeds within ``share`` of ``seed``'s radius (at least 2 px) are not worth a click."""
        radius = max(2.0, share * seed.radius)
        extent = int(np.ceil(radius))
        r0, c0 = max(seed.row - extent, 0), max(seed.col - extent, 0)
        r1 = min(seed.row + extent + 1, self.tried.shape[0])
        c1 = min(seed.col + extent + 1, self.tried.shape[1])
        rows, cols = np.ogrid[r0:r1, c0:c1]
        disk = (rows - seed.row) ** 2 + (cols - seed.col) ** 2 <= radius**2
        self.tried[r0:r1, c0:c1] |= disk

    def add(self, candidates: Iterable[Candidate], max_overlap: float) -> None:
        for cand in sorted(candidates, key=lambda c: -c.score):
            r0, c0, r1, c1 = cand.box
            owner = self.owner[r0:r1, c0:c1]
            overlap = owner[cand.mask]
            area = overlap.size
            if area == 0:
                continue
            taken = overlap[overlap > 0]
            if taken.size:
                shared = np.bincount(taken)
                other = int(np.argmax(shared))
                union = area + self.areas[other] - shared[other]
                if shared[other] > max_overlap * union:
                    continue
            self.count += 1
            self.areas.append(area)
            prob = self.prob[r0:r1, c0:c1]
            wins = cand.mask & (cand.probs > prob)
            owner[wins] = self.count
            prob[wins] = cand.probs[wins]

    def labels(self, min_area: int) -> np.ndarray:
        """The objects as int32 labels 1..N: each object's largest piece, at least
        ``min_area`` pixels."""
        result = np.zeros_like(self.owner)
        objects = ndimage.find_objects(self.owner)
        next_id = 1
        for index, box in enumerate(objects, start=1):
            if box is None:
                continue
            mine = self.owner[box] == index
            pieces, count = ndimage.label(mine)
            if count > 1:
                sizes = np.bincount(pieces.ravel())
                sizes[0] = 0
                mine = pieces == int(np.argmax(sizes))
            if np.count_nonzero(mine) < max(min_area, 1):
                continue
            result[box][mine] = next_id
            next_id += 1
        return result


def add_objects(
    labels: np.ndarray, found: np.ndarray, min_area: int, overwrite: bool = False
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Where and what to paint to add the objects of ``found`` (1..N) to ``labels``.

    Returns ``(indices, values)`` for one assignment ``labels[indices] = values``: new ids
    follow ``labels.max()``; existing labels are kept unless ``overwrite`` (an object whose
    free part is below ``min_area`` is then dropped). Pure: ``labels`` is not changed, so the
    widget can apply the result as one undo step.
    """
    if labels.shape != found.shape:
        raise ValueError(f"labels have shape {labels.shape}, the objects {found.shape}")
    paintable = found > 0 if overwrite else (found > 0) & (labels == 0)
    ids = found[paintable]
    areas = np.bincount(ids, minlength=int(found.max()) + 1)
    keep = areas >= max(min_area, 1)
    keep[0] = False
    new_ids = np.zeros(len(areas), dtype=np.int64)
    new_ids[keep] = np.arange(1, int(keep.sum()) + 1) + int(labels.max(initial=0))
    if (
        np.issubdtype(labels.dtype, np.integer)
        and new_ids.max(initial=0) > np.iinfo(labels.dtype).max
    ):
        raise ValueError(
            f"{int(keep.sum())} new objects need ids up to {int(new_ids.max())}, more than "
            f"labels of dtype {labels.dtype} can hold"
        )
    where = np.nonzero(paintable)
    values = new_ids[ids]
    chosen = values > 0
    indices = tuple(axis[chosen] for axis in where)
    return indices, values[chosen].astype(labels.dtype, copy=False)


def complete_with_foreground(
    labels: np.ndarray, foreground: np.ndarray, min_area: int, grow: int = 2
) -> np.ndarray:
    """Objects fitted to the foreground estimate, plus what the clicks missed.

    Each object grows into foreground pixels within ``grow`` pixels of it (a watershed from
    the objects, so touching objects meet halfway), and every foreground piece no object
    reached, of at least ``min_area`` pixels, becomes an object of its own: where the clicks
    under-segment a nucleus or miss it, the threshold of the image still sees it.
    """
    from skimage.segmentation import watershed

    objects = labels > 0
    if not foreground.any():
        return labels
    reach = ndimage.binary_dilation(objects, iterations=grow) & foreground | objects
    distance = ndimage.distance_transform_edt(~objects)
    grown = watershed(distance, labels, mask=reach).astype(np.int32)
    rest, count = ndimage.label(foreground & (grown == 0))
    if count:
        sizes = np.bincount(rest.ravel())
        keep = sizes >= max(min_area, 1)
        keep[0] = False
        new_ids = np.zeros(len(sizes), dtype=np.int32)
        new_ids[keep] = np.arange(1, int(keep.sum()) + 1) + int(grown.max(initial=0))
        grown = np.where(rest > 0, new_ids[rest], grown)
    return grown

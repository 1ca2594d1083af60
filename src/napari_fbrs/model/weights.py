"""The official f-BRS weights: a table of facts, a cache folder and a checked download.

The seven released checkpoints live on the upstream GitHub release page. No checksums were
ever published for them, so a fresh download cannot be checked against a known hash; instead it
must pass strict architecture detection (every key and shape of the architecture the table
names) before it is kept, and its sha256 is recorded beside it (``<name>.pth.sha256``) so that
later changes can be noticed. A file already in the cache is used as it is, without any network
access: that is also how a user without internet puts a copy they obtained elsewhere in place.

Two environment variables exist for mirrors, offline machines and tests:
``NAPARI_FBRS_CACHE`` (the cache folder) and ``NAPARI_FBRS_WEIGHTS_URL`` (the base URL that
``<name>.pth`` is appended to).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pooch

from napari_fbrs.atomic import atomic_write_text

CACHE_ENV = "NAPARI_FBRS_CACHE"
BASE_URL_ENV = "NAPARI_FBRS_WEIGHTS_URL"
RELEASE_URL = "https://github.com/saic-vul/fbrs_interactive_segmentation/releases/download/v1.0"
UPSTREAM_LICENCE = "MPL-2.0"


class WeightsError(RuntimeError):
    """Official weights cannot be found, downloaded or validated; the message says why."""


@dataclass(frozen=True)
class WeightsInfo:
    """One released checkpoint. ``size_mb`` is the upstream README's figure (float32 file)."""

    name: str
    arch: str
    url: str
    size_mb: float
    trained_on: str
    licence: str
    sha256: str | None = None  # upstream never published checksums

    @property
    def filename(self) -> str:
        return f"{self.name}.pth"


def _official(name: str, arch: str, size_mb: float, trained_on: str) -> WeightsInfo:
    return WeightsInfo(
        name=name,
        arch=arch,
        url=f"{RELEASE_URL}/{name}.pth",
        size_mb=size_mb,
        trained_on=trained_on,
        licence=UPSTREAM_LICENCE,
    )


OFFICIAL_WEIGHTS: dict[str, WeightsInfo] = {
    info.name: info
    for info in (
        _official("resnet34_dh128_sbd", "resnet34_dh128", 89, "SBD"),
        _official("resnet50_dh128_sbd", "resnet50_dh128", 120, "SBD"),
        _official("resnet101_dh256_sbd", "resnet101_dh256", 223, "SBD"),
        _official("hrnet18_ocr64_sbd", "hrnet18_ocr64", 39, "SBD"),
        _official("hrnet32_ocr128_sbd", "hrnet32_ocr128", 119, "SBD"),
        _official("resnet50_dh128_lvis", "resnet50_dh128", 120, "LVIS"),
        _official("hrnet32_ocr128_lvis", "hrnet32_ocr128", 119, "LVIS"),
    )
}


def weights_info(name: str) -> WeightsInfo:
    """The table entry for ``name`` (a trailing ``.pth`` is accepted)."""
    key = name.removesuffix(".pth")
    try:
        return OFFICIAL_WEIGHTS[key]
    except KeyError:
        raise WeightsError(
            f"unknown weights name {name!r}; known names: {', '.join(OFFICIAL_WEIGHTS)}"
        ) from None


def cache_dir() -> Path:
    """Where downloaded weights live: ``$NAPARI_FBRS_CACHE`` or the user cache folder."""
    override = os.environ.get(CACHE_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(pooch.os_cache("napari-fbrs"))


def download_url(info: WeightsInfo) -> str:
    """The release URL, or the same file name under ``$NAPARI_FBRS_WEIGHTS_URL``."""
    base = os.environ.get(BASE_URL_ENV, "").strip()
    if base:
        return f"{base.rstrip('/')}/{info.filename}"
    return info.url


def cached_path(name: str) -> Path | None:
    """The cached file of ``name`` if it exists (never touches the network)."""
    path = cache_dir() / weights_info(name).filename
    return path if path.is_file() else None


def _sha256_record(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def recorded_sha256(name: str) -> str | None:
    """The sha256 recorded when ``name`` was downloaded (None for hand-placed files)."""
    record = _sha256_record(cache_dir() / weights_info(name).filename)
    try:
        text = record.read_text(encoding="utf-8").split()
    except OSError:
        return None
    return text[0] if text else None


def _write_sha256_record(path: Path, digest: str) -> None:
    """``sha256sum``-compatible line, written atomically beside the file."""
    atomic_write_text(_sha256_record(path), f"{digest}  {path.name}\n")


def download_weights(name: str, progress: bool = True) -> Path:
    """Download ``name`` into the cache, validate it, record its sha256 and return its path.

    A file already in the cache is returned at once. A downloaded file whose keys and shapes do
    not match the table's architecture is deleted, so a broken download is never used later.
    """
    info = weights_info(name)
    existing = cached_path(info.name)
    if existing is not None:
        return existing
    folder = cache_dir()
    target = folder / info.filename
    url = download_url(info)
    known_hash = f"sha256:{info.sha256}" if info.sha256 else None
    # pooch logs advice about known_hash at INFO level; that is for data-package authors,
    # not for our users, so keep it quiet for the duration of the call.
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(
            f"cannot create the weights cache folder {folder} ({exc.strerror or exc}); "
            f"set {CACHE_ENV} to a writable folder"
        ) from exc
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        fetched = Path(
            pooch.retrieve(
                url, known_hash=known_hash, fname=info.filename, path=folder, progressbar=progress
            )
        )
    except Exception as exc:  # requests/urllib/OS errors: all mean "no file"
        raise WeightsError(
            f"could not download {info.name} from {url} ({_short_reason(exc)}); "
            f"check your connection or put the file at {target}"
        ) from exc
    finally:
        logger.setLevel(level)
    _validate_and_record(fetched, info, url)
    return fetched


def _short_reason(exc: BaseException) -> str:
    """The useful part of a network error: requests nests the OS error deep in its message."""
    text = str(exc).strip()
    errno = re.search(r"\[Errno -?\d+\][^\"')]*", text)
    if errno:
        return f"connection failed: {errno.group(0).strip()}"
    return text.splitlines()[0] if text else type(exc).__name__


def _validate_and_record(path: Path, info: WeightsInfo, url: str) -> None:
    """Keep a download only if strict detection finds the table's architecture in it.

    Its sha256 is then recorded; a rejected file is deleted.
    """
    # torch is needed only here, so listing the table stays free of it
    from .checkpoint import CheckpointError, read_checkpoint, sha256_of

    try:
        arch, _, _, _ = read_checkpoint(path)
        problem = None if arch == info.arch else f"it holds {arch} weights, expected {info.arch}"
    except CheckpointError as exc:
        problem = str(exc).removeprefix(f"{path}: ")
    if problem is not None:
        path.unlink(missing_ok=True)
        raise WeightsError(
            f"{path}: the file downloaded from {url} is not a usable {info.arch} checkpoint "
            f"({problem}); it was deleted"
        )
    _write_sha256_record(path, sha256_of(path))


def resolve_checkpoint(spec: str | os.PathLike[str]) -> Path:
    """An existing file as it is; ``default`` as the built-in model; a known official weights
    name from the cache or downloaded."""
    from .default_model import default_checkpoint_path, is_default_name

    path = Path(spec).expanduser()
    if path.is_file():
        return path
    text = os.fspath(spec)
    if is_default_name(text):
        return default_checkpoint_path()
    key = text.removesuffix(".pth")
    if key in OFFICIAL_WEIGHTS:
        return download_weights(key)
    raise WeightsError(
        f"{text!r} is neither an existing checkpoint file nor a known weights name; "
        f"known names: default (built in), {', '.join(OFFICIAL_WEIGHTS)}"
    )

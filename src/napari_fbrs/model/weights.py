"""Every named model: one table of facts, the name -> file resolver, a cache and a download.

The table (:data:`WEIGHTS`) holds the built-in model shipped inside the package (``default``,
alias ``builtin``; its sha256 is checked the first time the file is used in a process, so a
damaged installation fails clearly instead of segmenting with corrupt weights) and the seven
official f-BRS releases. :func:`resolve_checkpoint` is the one place where a name or a path
becomes a checkpoint file, for the command line, the widgets and the trainer.

The official checkpoints live on the upstream GitHub release page. No checksums were
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

import functools
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
    """One named model. Official: downloaded from ``url`` (``size_mb`` is the upstream
    README's figure). Built in: the file ``packaged`` inside ``napari_fbrs/model/default/``."""

    name: str
    arch: str
    trained_on: str
    licence: str
    url: str | None = None
    size_mb: float = 0.0
    sha256: str | None = None  # upstream never published checksums; ours is recorded
    packaged: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def builtin(self) -> bool:
        return self.packaged is not None

    @property
    def filename(self) -> str:
        return self.packaged if self.packaged is not None else f"{self.name}.pth"


# -- the built-in model (training/ship_default_model.py rewrites this entry) ------------------
BUILTIN = WeightsInfo(
    name="default",
    arch="efficientnet_lite0_fpn96",
    trained_on="COCO_MVal_train, COCO128, DSB2018/train, WBC, ISBI_EM",
    licence="BSD-3-Clause",
    packaged="napari_fbrs_default_efficientnet_lite0_fpn96.pth",
    sha256="182a53cdda6f5a9c43258bca79eb2b4435ace75a8bdcd9595bc1f7b47dc67317",
    aliases=("builtin",),
)
# -- end of the built-in model entry ---------------------------------------------------------


def _official(name: str, arch: str, size_mb: float, trained_on: str) -> WeightsInfo:
    return WeightsInfo(
        name=name,
        arch=arch,
        trained_on=trained_on,
        licence=UPSTREAM_LICENCE,
        url=f"{RELEASE_URL}/{name}.pth",
        size_mb=size_mb,
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

#: Every named model: the built-in one first, then the official releases.
WEIGHTS: dict[str, WeightsInfo] = {BUILTIN.name: BUILTIN, **OFFICIAL_WEIGHTS}
#: Names that mean the built-in model on the command line and in the Python API.
DEFAULT_MODEL_NAMES = (BUILTIN.name, *BUILTIN.aliases)


def is_default_name(spec: str) -> bool:
    return spec.strip().lower() in DEFAULT_MODEL_NAMES


def weights_info(name: str) -> WeightsInfo:
    """The table entry for ``name`` or an alias (a trailing ``.pth`` is accepted)."""
    key = name.strip().removesuffix(".pth")
    if is_default_name(key):
        return BUILTIN
    try:
        return OFFICIAL_WEIGHTS[key]
    except KeyError:
        raise WeightsError(
            f"unknown weights name {name!r}; known names: {', '.join(WEIGHTS)}"
        ) from None


def packaged_path(info: WeightsInfo) -> Path:
    """Where a built-in model's file lies inside the installed package (not yet checked)."""
    from importlib import resources

    assert info.packaged is not None
    return Path(str(resources.files("napari_fbrs.model") / "default" / info.packaged))


@functools.cache
def _verified(path: Path, expected: str) -> Path:
    """``path`` once its sha256 matched ``expected`` (memoised: hashing once per process)."""
    from .checkpoint import sha256_of

    if not path.is_file():
        raise WeightsError(
            f"the built-in model file {path} is missing from this installation; "
            "reinstall napari-fbrs or pass a checkpoint"
        )
    actual = sha256_of(path)
    if actual != expected:
        raise WeightsError(
            f"the built-in model file {path} is damaged (sha256 {actual[:12]}..., expected "
            f"{expected[:12]}...); reinstall napari-fbrs or pass a checkpoint"
        )
    return path


def default_checkpoint_path() -> Path:
    """The verified path of the shipped default weights."""
    assert BUILTIN.sha256 is not None
    return _verified(packaged_path(BUILTIN), BUILTIN.sha256)


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


def resolve_checkpoint(
    spec: str | os.PathLike[str], download: bool = True, progress: bool = True
) -> Path:
    """The one name -> file resolver: an existing file as it is; ``default`` (or
    ``builtin``) the built-in model; an official weights name from the cache, downloaded when
    ``download`` (else a WeightsError saying how to get it)."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    text = os.fspath(spec)
    if is_default_name(text):
        return default_checkpoint_path()
    key = text.removesuffix(".pth")
    if key in OFFICIAL_WEIGHTS:
        cached = cached_path(key)
        if cached is not None:
            return cached
        if not download:
            raise WeightsError(f"{key} is not downloaded yet; run: napari-fbrs download {key}")
        return download_weights(key, progress=progress)
    raise WeightsError(
        f"{text!r} is neither an existing checkpoint file nor a known weights name; "
        f"known names: default (built in), {', '.join(OFFICIAL_WEIGHTS)}"
    )

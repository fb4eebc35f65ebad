"""The on-disk format of an :class:`~svm_retrievers.SVMIndex`: ``.npy`` arrays plus JSON, no pickle.

A saved index is a directory::

    manifest.json                 format, version, dim, count, dtype, scoring parameters,
                                  embedder config, user ``extra``, and a SHA-256 per file
    vectors-<sha12>.npy           the L2-normalized vectors (float32 unless the index is float64)
    payload-<sha12>.json          ids, texts and metadata
    embedder-<name>-<sha12>.npy   arrays of a fitted embedder, if the index carries one
    cache-<name>-<sha12>.npy      the solver's per-corpus warm-start arrays, if they were built
                                  (format version 2; without them the index is written as 1)

Saving is atomic: data files get new content-addressed names, then ``manifest.json`` is replaced
in one ``os.replace``; files the new manifest no longer names are removed afterwards. A crash at
any point leaves either the previous index or the new one, both loadable. Loading checks every
name, size, header, checksum and invariant before it allocates anything large, and raises
:class:`IndexFormatError` naming what is wrong.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from . import solvers
from .params import ScoringParams

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .index import SVMIndex

FORMAT_NAME = "svm-retrievers-index"
FORMAT_VERSION = 2  # the highest version read; an index is written in the lowest that holds it
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_STEMS = r"(vectors|payload|embedder-[A-Za-z0-9_]{1,64}|cache-[a-z]{1,32})"
_SAFE_NAME = re.compile(rf"^{_STEMS}-[0-9a-f]{{12}}\.(npy|json)$")
# Only names this module writes: content-addressed data files and its own temporaries.
_OWNED = re.compile(rf"{_SAFE_NAME.pattern}|^\.tmp-[0-9a-f]{{32}}(\.npy|\.json|-manifest\.json)$")


class IndexFormatError(ValueError):
    """A saved index is missing, truncated, corrupted, tampered with, or of a newer format."""


# ---------------------------------------------------------------------------------------- save
def save_index(
    index: SVMIndex, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None
) -> None:
    """Write ``index`` to the directory ``path`` atomically (see the module docstring)."""
    root = Path(path)
    check_save_target(root)
    extra = {} if extra is None else extra
    _check_json("extra", extra)
    snap = index._snap
    metadatas = [dict(m) for m in snap.metadatas]
    _check_json("metadata", metadatas)
    payload = {"ids": list(snap.ids), "texts": list(snap.texts), "metadatas": metadatas}
    try:  # encoded before any file is written: a text that cannot be saved leaves no trace
        payload_bytes = _dumps(payload)
    except ValueError as exc:  # e.g. a lone surrogate ("\udc80") in a text or id
        msg = f"ids and texts must be valid Unicode to be saved as UTF-8 JSON: {exc}"
        raise TypeError(msg) from exc
    state = _embedder_state(index.embedder)  # checked before any file is written
    root.mkdir(parents=True, exist_ok=True)
    with _dir_lock(root, exclusive=True):
        _write_index(index, snap, payload_bytes, root, extra, state)


def check_save_target(path: str | os.PathLike[str]) -> None:
    """Raise ``FileExistsError`` unless an index may be saved to ``path``: a new or empty
    directory, or one holding an index (never a file, or a directory of other files)."""
    root = Path(path)
    if root.exists() and not root.is_dir():
        msg = f"cannot save the index to {str(root)!r}: it exists and is not a directory"
        raise FileExistsError(msg)
    if root.is_dir() and any(not _OWNED.match(c.name) for c in root.iterdir()):
        if not (root / MANIFEST).exists():
            msg = (
                f"cannot save the index to {str(root)!r}: the directory is not empty and holds"
                f" no {MANIFEST}; refusing to write into a directory that is not an index"
            )
            raise FileExistsError(msg)
        if not _is_our_manifest(root / MANIFEST):
            msg = (
                f"cannot save the index to {str(root)!r}: its {MANIFEST} is not an"
                " svm-retrievers index; refusing to overwrite it"
            )
            raise FileExistsError(msg)


def _embedder_state(embedder: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """The embedder's ``(config, arrays)``, checked to be savable without pickle."""
    if embedder is None:
        return None
    to_state = getattr(embedder, "to_state", None)
    if to_state is None:
        msg = (
            f"index.embedder ({type(embedder).__name__}) has no to_state(); it cannot"
            " be saved. Set index.embedder = None to save without it."
        )
        raise TypeError(msg)
    config, raw = to_state()
    _check_json("embedder config", config)
    arrays = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,64}", key):
            msg = f"embedder array name {key!r} must match [A-Za-z0-9_]{{1,64}}"
            raise ValueError(msg)
        arr = np.asarray(value)
        if arr.dtype == object:
            msg = f"embedder array {key!r} has dtype object, which cannot be saved without pickle"
            raise TypeError(msg)
        arrays[key] = arr
    return config, arrays


def _is_our_manifest(path: Path) -> bool:
    """Whether ``path`` is an index manifest, even a damaged one (which a save may replace)."""
    try:
        if path.stat().st_size <= MAX_MANIFEST_BYTES:
            data = path.read_bytes()
            if _dumps({"format": FORMAT_NAME})[1:-1] in data:  # as save writes it: no parse
                return True
            manifest = json.loads(data)
            return isinstance(manifest, dict) and manifest.get("format") == FORMAT_NAME
    except (OSError, ValueError):
        pass
    # Not readable as JSON: ours if the index's own data files lie beside it.
    return any(_SAFE_NAME.match(child.name) for child in path.parent.iterdir())


def _write_index(
    index: SVMIndex,
    snap: Any,
    payload_bytes: bytes,
    root: Path,
    extra: dict[str, Any],
    state: tuple[dict[str, Any], dict[str, np.ndarray]] | None,
) -> None:
    files: dict[str, dict[str, Any]] = {}
    vectors_name = _write_npy(root, "vectors", np.ascontiguousarray(snap.vectors), files)
    payload_name = _write_bytes(root, "payload", ".json", payload_bytes, files)

    embedder_entry = None
    if state is not None:
        config, arrays = state
        array_files = {
            key: _write_npy(root, f"embedder-{key}", arr, files) for key, arr in arrays.items()
        }
        embedder_entry = {"config": config, "arrays": array_files}

    # The warm start's per-corpus arrays, if a search built them: a loaded index then answers
    # its first query without rebuilding them (seconds at 100k documents).
    cache_entry = None
    cached = solvers.export_cache(snap.cache)
    if cached is not None and cached["scores"].shape[0] == len(snap.ids):
        cache_entry = {
            "directions": _write_npy(root, "cache-directions", cached["directions"], files),
            "scores": _write_npy(root, "cache-scores", cached["scores"], files),
            "n_estimated": int(cached["n_estimated"]),
        }

    manifest = {
        "format": FORMAT_NAME,
        "format_version": 1 if cache_entry is None else 2,
        "dim": index.dim,
        "count": len(snap.ids),
        "dtype": snap.vectors.dtype.name,
        "params": index.params.to_dict(),
        "vectors": vectors_name,
        "payload": payload_name,
        "embedder": embedder_entry,
        "cache": cache_entry,
        "extra": extra,
        "files": files,
    }
    manifest["manifest_sha256"] = _sha256(_dumps(manifest))
    _fsync_dir(root)  # the data files' renames are durable before the manifest names them
    tmp = root / f".tmp-{uuid.uuid4().hex}-{MANIFEST}"
    try:
        _write_durably(tmp, _dumps(manifest))
        os.replace(tmp, root / MANIFEST)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(root)
    for child in root.iterdir():
        if child.name != MANIFEST and child.name not in files and _OWNED.match(child.name):
            with contextlib.suppress(OSError):
                child.unlink()


@contextlib.contextmanager
def _dir_lock(root: Path, *, exclusive: bool) -> Iterator[None]:
    """An advisory ``flock`` on the index directory: savers exclusive, loaders shared.

    Without it, one saver's clean-up removed the files (and temporaries) of another saver
    running at the same time, leaving a manifest that names deleted files, and a loader could
    find the files its manifest named already removed by a saver.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        fd = os.open(root, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        yield
        return
    try:
        with contextlib.suppress(OSError):  # file systems without flock: proceed unlocked
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _write_npy(root: Path, stem: str, arr: np.ndarray, files: dict[str, dict[str, Any]]) -> str:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return _write_bytes(root, stem, ".npy", buf.getvalue(), files)


def _write_bytes(
    root: Path, stem: str, suffix: str, data: bytes, files: dict[str, dict[str, Any]]
) -> str:
    digest = _sha256(data)
    name = f"{stem}-{digest[:12]}{suffix}"
    target = root / name
    if not (
        target.exists() and target.stat().st_size == len(data) and _file_sha256(target) == digest
    ):
        tmp = root / f".tmp-{uuid.uuid4().hex}{suffix}"
        try:
            _write_durably(tmp, data)
            os.replace(tmp, target)
        except BaseException:  # e.g. a full disk: leave no partial temporary behind
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    files[name] = {"sha256": digest, "size": len(data)}
    return name


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------- load
def load_index(path: str | os.PathLike[str]) -> SVMIndex:
    """Read and fully validate an index saved by :func:`save_index`."""

    root = Path(path)
    manifest_path = root / MANIFEST
    if not root.is_dir():
        msg = f"no saved index at {str(root)!r}: not a directory"
        raise FileNotFoundError(msg)
    if not manifest_path.is_file():
        msg = f"no saved index at {str(root)!r}: {MANIFEST} is missing"
        raise FileNotFoundError(msg)
    with _dir_lock(root, exclusive=False):
        return _read_index(root)


def _read_index(root: Path) -> SVMIndex:
    from .index import SVMIndex

    manifest_path = root / MANIFEST
    size = manifest_path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise IndexFormatError(
            f"{MANIFEST} is {size} bytes, more than the {MAX_MANIFEST_BYTES} allowed"
        )
    manifest = _parse_json(manifest_path.read_bytes(), MANIFEST)
    if not isinstance(manifest, dict):
        raise IndexFormatError(f"{MANIFEST} must hold a JSON object")
    if manifest.get("format") != FORMAT_NAME:
        raise IndexFormatError(
            f"{MANIFEST} is not an svm-retrievers index (format={manifest.get('format')!r})"
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise IndexFormatError(f"{MANIFEST}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise IndexFormatError(
            f"the index at {str(root)!r} has format version {version}, newer than this"
            f" svm-retrievers reads ({FORMAT_VERSION}); upgrade svm-retrievers to load it"
        )
    if version < 1:
        raise IndexFormatError(f"{MANIFEST}: unknown format_version {version}")
    claimed = manifest.pop("manifest_sha256", None)
    try:
        actual = _sha256(_dumps(manifest))
    except ValueError as exc:  # NaN or Infinity, which json.loads accepts and _dumps refuses
        raise IndexFormatError(f"{MANIFEST} holds a value that is not valid JSON: {exc}") from exc
    if claimed != actual:
        raise IndexFormatError(f"{MANIFEST} fails its checksum: it was edited or corrupted")

    files = _field(manifest, "files", dict)
    for name, entry in files.items():
        _check_file_entry(root, name, entry)
    dim = _field(manifest, "dim", int)
    count = _field(manifest, "count", int)
    dtype_name = _field(manifest, "dtype", str)
    if dtype_name not in ("float32", "float64"):
        raise IndexFormatError(f"{MANIFEST}: dtype must be float32 or float64, got {dtype_name!r}")
    if dim < 1 or count < 0:
        raise IndexFormatError(f"{MANIFEST}: bad dim={dim} or count={count}")
    try:
        params = ScoringParams.from_dict(_field(manifest, "params", dict))
    except (TypeError, ValueError) as exc:
        raise IndexFormatError(f"{MANIFEST}: invalid scoring parameters: {exc}") from exc
    extra = _field(manifest, "extra", dict)

    vectors = _read_npy(
        root, _named_file(manifest, "vectors", files), files, np.dtype(dtype_name), (count, dim)
    )
    payload = _parse_json(
        _read_checked(root, _named_file(manifest, "payload", files), files), "payload"
    )
    ids, texts, metadatas = _check_payload(payload, count)
    # By blocks, so the checks need no full-size temporaries (loading holds one copy).
    rows = max(1, (1 << 17) // dim)  # blocks of 128 Ki values (1 MiB as float64)
    for start in range(0, count, rows):
        block = vectors[start : start + rows].astype(np.float64)
        if not np.isfinite(block).all():
            raise IndexFormatError("vectors contain NaN or infinite values")
        if not np.allclose(np.linalg.norm(block, axis=1), 1.0, atol=1e-3):
            raise IndexFormatError("vectors are not L2-normalized: the file was altered")

    index = SVMIndex._from_stored(vectors, ids, texts, metadatas, params, dim)
    cache_entry = manifest.get("cache")
    if cache_entry is not None:
        index._snap.cache.update(_load_cache(root, cache_entry, files, vectors))
    index.extra = extra
    embedder_entry = manifest.get("embedder")
    if embedder_entry is not None:
        index.embedder = _load_embedder(root, embedder_entry, files)
    return index


def _check_file_entry(root: Path, name: Any, entry: Any) -> None:
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        raise IndexFormatError(
            f"{MANIFEST} names a file {name!r} outside the index's own file names"
        )
    target = (root / name).resolve()
    if target.parent != root.resolve():
        raise IndexFormatError(f"{MANIFEST} names a path outside the index directory: {name!r}")
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("size"), int)
        or not isinstance(entry.get("sha256"), str)
    ):
        raise IndexFormatError(f"{MANIFEST}: bad entry for {name!r}")
    if not target.is_file():
        raise IndexFormatError(f"{name} is missing from the index directory")
    actual = target.stat().st_size
    if actual != entry["size"]:
        raise IndexFormatError(
            f"{name} is {actual} bytes but the manifest declares {entry['size']}: truncated or replaced"
        )


def _named_file(manifest: dict[str, Any], key: str, files: dict[str, Any]) -> str:
    name = _field(manifest, key, str)
    if name not in files:
        raise IndexFormatError(f"{MANIFEST}: {key} file {name!r} has no checksum entry")
    return name


def _read_checked(root: Path, name: str, files: dict[str, Any]) -> bytes:
    data = (root / name).read_bytes()
    if _sha256(data) != files[name]["sha256"]:
        raise IndexFormatError(f"{name} fails its checksum: the file is corrupted")
    return data


def _check_header_text(fh: BinaryIO, major: int) -> None:
    """Refuse a .npy header holding a backslash before numpy parses it (``np.save`` never
    writes one): Python's parser would warn about its escape sequences on the user's stderr
    before failing. Leaves ``fh`` where it was."""
    start = fh.tell()
    size = fh.read(2 if major == 1 else 4)
    text = fh.read(int.from_bytes(size, "little"))
    fh.seek(start)
    if b"\\" in text:
        raise ValueError("its header holds a backslash")


def _read_npy(
    root: Path,
    name: str,
    files: dict[str, Any],
    dtype: np.dtype | None,
    shape: tuple[int, ...] | None,
) -> np.ndarray:
    """Check the .npy header against the declared shape/size before reading the data."""
    path = root / name
    with open(path, "rb") as fh:
        try:
            major, _ = np.lib.format.read_magic(fh)
            _check_header_text(fh, major)
            if major == 1:
                header = np.lib.format.read_array_header_1_0(fh)
            elif major in (2, 3):
                header = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {major}")
        # numpy parses the header with ast.literal_eval: a damaged header can raise
        # SyntaxError, tokenize.TokenError, TypeError, ... as well as ValueError.
        except Exception as exc:
            raise IndexFormatError(f"{name} is not a valid .npy file: {exc!r}") from exc
        arr_shape, _fortran, arr_dtype = header
        offset = fh.tell()
    if arr_dtype.hasobject:
        raise IndexFormatError(f"{name} holds Python objects; refusing to load it (no pickle)")
    if dtype is not None and arr_dtype != dtype:
        raise IndexFormatError(f"{name} has dtype {arr_dtype}, the manifest says {dtype}")
    if shape is not None and tuple(arr_shape) != shape:
        raise IndexFormatError(f"{name} has shape {tuple(arr_shape)}, the manifest says {shape}")
    if any(d < 0 for d in arr_shape):
        raise IndexFormatError(f"{name} has a negative dimension in its shape {tuple(arr_shape)}")
    # Python integers: an int64 product of a hostile shape can wrap around to a small size.
    expected = offset + math.prod(arr_shape) * arr_dtype.itemsize
    actual = path.stat().st_size
    if actual != expected:
        raise IndexFormatError(
            f"{name} is {actual} bytes but its header implies {expected}: truncated"
        )
    # Checksum by streaming, then read straight into the array: one copy of the data in memory.
    if _file_sha256(path) != files[name]["sha256"]:
        raise IndexFormatError(f"{name} fails its checksum: the file is corrupted")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise IndexFormatError(f"{name} cannot be read as a .npy array: {exc}") from exc


def _load_embedder(root: Path, entry: Any, files: dict[str, Any]) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise IndexFormatError(f"{MANIFEST}: bad embedder entry")
    arrays_entry = entry.get("arrays")
    if not isinstance(arrays_entry, dict):
        raise IndexFormatError(f"{MANIFEST}: bad embedder arrays entry")
    arrays = {}
    for key, name in arrays_entry.items():
        if not isinstance(name, str) or name not in files:
            raise IndexFormatError(
                f"{MANIFEST}: embedder array {key!r} names an unknown file {name!r}"
            )
        arrays[key] = _read_npy(root, name, files, None, None)
    try:
        from .embeddings import embedder_from_state
    except ImportError as exc:
        raise IndexFormatError(
            f"the index carries an embedder but it cannot be rebuilt: {exc}"
        ) from exc
    try:
        return embedder_from_state(entry["config"], arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFormatError(f"the saved embedder is invalid: {exc}") from exc


def _load_cache(
    root: Path, entry: Any, files: dict[str, Any], vectors: np.ndarray
) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise IndexFormatError(f"{MANIFEST}: bad cache entry")
    names = {}
    for key in ("directions", "scores"):
        name = entry.get(key)
        if not isinstance(name, str) or name not in files:
            raise IndexFormatError(f"{MANIFEST}: cache {key} names an unknown file {name!r}")
        names[key] = name
    directions = _read_npy(root, names["directions"], files, np.dtype(np.float64), None)
    if directions.ndim != 2:
        raise IndexFormatError(f"{names['directions']} must be a matrix")
    shape = (vectors.shape[0], directions.shape[1])
    scores = _read_npy(root, names["scores"], files, vectors.dtype, shape)
    try:
        return solvers.import_cache(directions, scores, entry.get("n_estimated"), vectors)
    except ValueError as exc:
        raise IndexFormatError(f"the saved warm-start cache is invalid: {exc}") from exc


def _check_payload(
    payload: Any, count: int
) -> tuple[list[str], list[str | None], list[dict[str, Any]]]:
    if not isinstance(payload, dict):
        raise IndexFormatError("payload must be a JSON object")
    ids = payload.get("ids")
    texts = payload.get("texts")
    metadatas = payload.get("metadatas")
    for key, value in (("ids", ids), ("texts", texts), ("metadatas", metadatas)):
        if not isinstance(value, list) or len(value) != count:
            raise IndexFormatError(f"payload {key} must be a list of {count} entries")
    assert isinstance(ids, list) and isinstance(texts, list) and isinstance(metadatas, list)
    if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != count:
        raise IndexFormatError("payload ids must be unique non-empty strings")
    if not all(t is None or isinstance(t, str) for t in texts):
        raise IndexFormatError("payload texts must be strings or null")
    if not all(isinstance(m, dict) for m in metadatas):
        raise IndexFormatError("payload metadatas must be JSON objects")
    return ids, texts, metadatas


def _field(manifest: dict[str, Any], key: str, kind: type) -> Any:
    value = manifest.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise IndexFormatError(
            f"{MANIFEST}: {key!r} must be of type {kind.__name__}, got {value!r:.80}"
        )
    return value


# ---------------------------------------------------------------------------------------- json
def _dumps(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode()


def _parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise IndexFormatError(f"{what} is not valid JSON: {exc}") from exc


def _check_json(what: str, obj: Any) -> None:
    try:
        _dumps(obj)
    except (TypeError, ValueError) as exc:
        msg = f"{what} must be JSON-serializable (str, int, float, bool, None, list, dict): {exc}"
        raise TypeError(msg) from exc


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

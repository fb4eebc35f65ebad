"""Faults on disk: SIGKILL at random points of a save, truncation, bit flips, tampered manifests.

Whatever happens to the files, :meth:`SVMIndex.load` either returns exactly an index that was
saved or raises ``IndexFormatError``/``FileNotFoundError`` with a message saying what is wrong,
before it allocates anything large.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from svm_retrievers import SVMIndex
from svm_retrievers.persistence import MANIFEST, IndexFormatError, _dumps, _sha256

LOAD_ERRORS = (IndexFormatError, FileNotFoundError)
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _make(seed: int, n: int, dim: int = 16, **params) -> SVMIndex:
    rng = np.random.default_rng(seed)
    return SVMIndex.from_embeddings(
        rng.normal(size=(n, dim)),
        ids=[f"s{seed}-{i}" for i in range(n)],
        texts=[f"text {seed} {i} " + "x" * (i % 7) for i in range(n)],
        metadatas=[{"seed": seed, "i": i, "tags": ["a", str(i)]} for i in range(n)],
        **params,
    )


def _same(a: SVMIndex, b: SVMIndex) -> bool:
    return (
        a.ids == b.ids
        and a.texts() == b.texts()
        and a.metadatas() == b.metadatas()
        and a.params == b.params
        and a.vectors.dtype == b.vectors.dtype
        and np.array_equal(a.vectors, b.vectors)
    )


def _manifest(path: Path) -> dict:
    return json.loads((path / MANIFEST).read_text())


def _reseal(path: Path, edit: Callable[[dict], None]) -> None:
    """Edit the manifest and recompute its checksum, as a careful hand-editor would."""
    manifest = _manifest(path)
    manifest.pop("manifest_sha256")
    edit(manifest)
    manifest["manifest_sha256"] = _sha256(_dumps(manifest))
    (path / MANIFEST).write_bytes(_dumps(manifest))


def _reseal_file(path: Path, name: str) -> None:
    """Re-declare ``name``'s size and checksum after it was altered (only the loader's own checks
    of the content remain)."""
    data = (path / name).read_bytes()

    def edit(m: dict) -> None:
        m["files"][name] = {"sha256": _sha256(data), "size": len(data)}

    _reseal(path, edit)


@pytest.fixture
def saved(tmp_path) -> tuple[Path, SVMIndex]:
    index = _make(1, 30, C=0.3, mode="hybrid")
    target = tmp_path / "idx"
    index.save(target, extra={"lc": {"k": 2}})
    return target, index


# ------------------------------------------------------------------------------ SIGKILL mid-save
def _fork_saver(target: Path, indexes: list[SVMIndex], extras: list[dict]) -> int:
    """Fork a child that saves ``indexes`` in turn, forever (until killed)."""
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            i = 0
            while True:
                indexes[i % len(indexes)].save(target, extra=extras[i % len(indexes)])
                i += 1
        finally:
            os._exit(1)
    return pid


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


@needs_fork
def test_sigkill_at_random_points_of_alternating_saves_loads_exactly_a_or_b(tmp_path):
    a = _make(1, 400, dim=32, C=0.2)
    b = _make(2, 900, dim=32, C=3.0, mode="knn", dtype=np.float64)
    target = tmp_path / "idx"
    a.save(target, extra={"which": "A"})
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    b.save(tmp_path / "scratch")  # a first save of B: what the child does before A
    save_time = time.perf_counter() - start
    seen = set()
    kills = 0
    while kills < 16 or (len(seen) < 2 and kills < 60):
        pid = _fork_saver(target, [b, a], [{"which": "B"}, {"which": "A"}])
        time.sleep(float(rng.uniform(0, 3 * save_time)))
        _kill(pid)
        kills += 1
        loaded = SVMIndex.load(target)  # never raises: the previous or the new index
        which = loaded.extra["which"]
        assert _same(loaded, {"A": a, "B": b}[which]), f"loaded a mix, not exactly {which}"
        seen.add(which)
    assert seen == {"A", "B"}, "the kills never landed after a completed save"
    # Leftovers of killed saves never block or corrupt a later save, and are cleaned up.
    a.save(target, extra={"which": "A"})
    assert _same(SVMIndex.load(target), a)
    assert len(os.listdir(target)) == 3


@needs_fork
def test_sigkill_during_the_first_save_into_an_empty_directory(tmp_path):
    a = _make(3, 600, dim=32)
    rng = np.random.default_rng(1)
    for attempt in range(8):
        target = tmp_path / f"idx{attempt}"
        target.mkdir()
        pid = _fork_saver(target, [a], [{}])
        time.sleep(float(rng.uniform(0, 0.05)))
        _kill(pid)
        try:
            assert _same(SVMIndex.load(target), a)
        except FileNotFoundError as exc:  # killed before the manifest landed: no index yet
            assert "manifest.json is missing" in str(exc)
        # A killed first save used to leave temporaries that made the next save refuse the
        # directory as "not an index".
        a.save(target)
        assert _same(SVMIndex.load(target), a)


# ------------------------------------------------------------------------------ truncation
def _npy_header_len(path: Path) -> int:
    with open(path, "rb") as fh:
        np.lib.format.read_magic(fh)
        np.lib.format.read_array_header_1_0(fh)
        return fh.tell()


@pytest.mark.parametrize("reseal", [False, True], ids=["plain", "resealed"])
@pytest.mark.parametrize(
    "where", ["magic", "header", "header_end", "data_start", "data_mid", "last_byte", "empty"]
)
def test_truncated_vectors_are_refused(saved, where, reseal):
    target, _ = saved
    name = _manifest(target)["vectors"]
    path = target / name
    data = path.read_bytes()
    header = _npy_header_len(path)
    cut = {
        "magic": 3,
        "header": header // 2,
        "header_end": header - 1,
        "data_start": header + 1,
        "data_mid": (header + len(data)) // 2,
        "last_byte": len(data) - 1,
        "empty": 0,
    }[where]
    path.write_bytes(data[:cut])
    if reseal:
        _reseal_file(target, name)
    with pytest.raises(IndexFormatError, match=r"truncated|not a valid \.npy|shape") as info:
        SVMIndex.load(target)
    assert name in str(info.value)


@pytest.mark.parametrize("reseal", [False, True], ids=["plain", "resealed"])
@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.5, 0.99])
def test_truncated_payload_is_refused(saved, fraction, reseal):
    target, _ = saved
    name = _manifest(target)["payload"]
    data = (target / name).read_bytes()
    (target / name).write_bytes(data[: int(len(data) * fraction)])
    if reseal:
        _reseal_file(target, name)
    with pytest.raises(IndexFormatError, match="truncated|not valid JSON"):
        SVMIndex.load(target)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_manifest_is_refused(saved, fraction):
    target, _ = saved
    data = (target / MANIFEST).read_bytes()
    (target / MANIFEST).write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(IndexFormatError, match="not valid JSON"):
        SVMIndex.load(target)


def test_missing_data_file_is_refused(saved):
    target, _ = saved
    (target / _manifest(target)["payload"]).unlink()
    with pytest.raises(IndexFormatError, match="missing"):
        SVMIndex.load(target)


# ------------------------------------------------------------------------------ bit flips
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.sampled_from(["manifest", "vectors", "payload"]),
    where=st.floats(0, 1),
    bit=st.integers(0, 7),
)
def test_a_bit_flip_anywhere_is_refused_or_harmless(saved, which, where, bit):
    target, index = saved
    name = MANIFEST if which == "manifest" else _manifest(target)[which]
    path = target / name
    original = path.read_bytes()
    data = bytearray(original)
    offset = min(int(where * len(data)), len(data) - 1)
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))
    try:
        loaded = SVMIndex.load(target)
    except LOAD_ERRORS as exc:
        assert str(exc)
    else:  # only a flip that leaves the same JSON value (e.g. 1e-05 -> 1E-05) may load
        assert which == "manifest" and _same(loaded, index) and loaded.extra == {"lc": {"k": 2}}
    finally:
        path.write_bytes(original)


# ------------------------------------------------------------------------------ tampering
def _set(key: str, value) -> Callable[[dict], None]:
    return lambda m: m.__setitem__(key, value)


TAMPERED = {
    "dim as str": (_set("dim", "16"), "'dim' must be of type int"),
    "dim as bool": (_set("dim", True), "'dim' must be of type int"),
    "count as float": (_set("count", 30.0), "'count' must be of type int"),
    "negative count": (_set("count", -1), "bad dim=16 or count=-1"),
    "zero dim": (_set("dim", 0), "bad dim=0"),
    "huge count": (_set("count", 10**15), "shape"),
    "huge dim": (_set("dim", 2**40), "shape"),
    "overflowing shape": (lambda m: m.update(count=2**62, dim=2**62), "shape"),
    "files as list": (_set("files", []), "'files' must be of type dict"),
    "vectors as int": (_set("vectors", 5), "'vectors' must be of type str"),
    "dtype int8": (_set("dtype", "int8"), "dtype must be float32 or float64"),
    "dtype mismatch": (_set("dtype", "float64"), "dtype"),
    "params not dict": (_set("params", "C=1"), "'params' must be of type dict"),
    "negative C": (lambda m: m["params"].update(C=-1.0), "invalid scoring parameters"),
    "unknown param": (lambda m: m["params"].update(gamma=1), "invalid scoring parameters"),
    "bad mode": (lambda m: m["params"].update(mode="bm25"), "invalid scoring parameters"),
    "format name": (_set("format", "pickle"), "not an svm-retrievers index"),
    "version as str": (_set("format_version", "1"), "format_version must be an integer"),
    "version zero": (_set("format_version", 0), "unknown format_version"),
    "extra not dict": (_set("extra", [1]), "'extra' must be of type dict"),
    "payload unlisted": (_set("payload", "payload-000000000000.json"), "no checksum entry"),
    "vectors is payload": (lambda m: m.update(vectors=m["payload"]), r"not a valid \.npy"),
    "payload is vectors": (lambda m: m.update(payload=m["vectors"]), "not valid JSON"),
    "declared size huge": (
        lambda m: m["files"][m["vectors"]].update(size=10**15),
        "declares 1000000000000000",
    ),
    "declared size negative": (lambda m: m["files"][m["vectors"]].update(size=-1), "declares -1"),
    "size as str": (lambda m: m["files"][m["vectors"]].update(size="10"), "bad entry"),
    "sha wrong": (lambda m: m["files"][m["vectors"]].update(sha256="0" * 64), "checksum"),
    "embedder junk": (_set("embedder", {"config": 1}), "bad embedder entry"),
    "embedder arrays unknown": (
        _set("embedder", {"config": {"kind": "x"}, "arrays": {"w": "nope.npy"}}),
        "unknown file",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_hand_edited_manifest_fields_are_refused(saved, case):
    target, _ = saved
    edit, message = TAMPERED[case]
    _reseal(target, edit)
    with pytest.raises(IndexFormatError, match=message):
        SVMIndex.load(target)


def _rename_entry(m: dict, key: str, new: str) -> None:
    old = m[key]
    m["files"][new] = m["files"].pop(old)
    m[key] = new


@pytest.mark.parametrize(
    "name",
    [
        "../outside-000000000000.npy",
        "sub/vectors-000000000000.npy",
        "/etc/passwd",
        "vectors-000000000000.npy/..",
        "..",
        ".",
        "",
        "manifest.json",
        "vectors-000000000000.npy\n",
        "vectors-00000000000G.npy",
        "vectors-000000000000.pkl",
    ],
)
def test_file_names_outside_the_index_naming_scheme_are_refused(saved, name):
    target, _ = saved
    _reseal(target, lambda m: _rename_entry(m, "vectors", name))
    with pytest.raises(IndexFormatError, match="outside"):
        SVMIndex.load(target)


def test_symlink_pointing_outside_the_index_is_refused(saved, tmp_path):
    target, _ = saved
    name = _manifest(target)["vectors"]
    outside = tmp_path / "elsewhere.npy"
    os.replace(target / name, outside)
    (target / name).symlink_to(outside)
    with pytest.raises(IndexFormatError, match="outside the index directory"):
        SVMIndex.load(target)


def test_duplicate_ids_in_payload_are_refused(saved):
    target, _ = saved
    name = _manifest(target)["payload"]
    payload = json.loads((target / name).read_text())
    payload["ids"][1] = payload["ids"][0]
    (target / name).write_bytes(_dumps(payload))
    _reseal_file(target, name)
    with pytest.raises(IndexFormatError, match="unique"):
        SVMIndex.load(target)


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p.update(ids=p["ids"][:-1]),
        lambda p: p.update(texts=5),
        lambda p: p["metadatas"].__setitem__(0, [1]),
        lambda p: p["ids"].__setitem__(0, 7),
        lambda p: p["ids"].__setitem__(0, ""),
        lambda p: p["texts"].__setitem__(0, {"a": 1}),
    ],
    ids=["short ids", "texts int", "metadata list", "id int", "id empty", "text dict"],
)
def test_inconsistent_payload_is_refused(saved, edit):
    target, _ = saved
    name = _manifest(target)["payload"]
    payload = json.loads((target / name).read_text())
    edit(payload)
    (target / name).write_bytes(_dumps(payload))
    _reseal_file(target, name)
    with pytest.raises(IndexFormatError, match="payload"):
        SVMIndex.load(target)


def _write_npy_header(path: Path, shape: tuple[int, ...], descr: str = "<f4", data: bytes = b""):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    path.write_bytes(buf.getvalue() + data)


@pytest.mark.parametrize(
    ("shape", "count", "dim"),
    [
        ((2**32, 2**32), 2**32, 2**32),  # 2**64 elements: wraps to 0 in int64 arithmetic
        ((2**62, 4), 2**62, 4),
        ((-2, -3), None, None),
    ],
    ids=["wraps-to-zero", "exabytes", "negative"],
)
def test_npy_headers_declaring_impossible_shapes_are_refused(saved, shape, count, dim):
    target, _ = saved
    name = _manifest(target)["vectors"]
    _write_npy_header(target / name, shape, data=b"\0" * 24)
    _reseal_file(target, name)
    if count is not None:
        _reseal(target, lambda m: m.update(count=count, dim=dim))
    with pytest.raises(IndexFormatError, match=name):
        SVMIndex.load(target)


def test_object_arrays_are_refused_without_unpickling(saved):
    target, _ = saved
    name = _manifest(target)["vectors"]
    _write_npy_header(target / name, (30, 16), descr="|O")
    _reseal_file(target, name)
    with pytest.raises(IndexFormatError, match="Python objects|dtype"):
        SVMIndex.load(target)


def test_not_normalized_or_nan_vectors_are_refused(saved):
    target, index = saved
    name = _manifest(target)["vectors"]
    for bad, message in ((index.vectors * 2, "normalized"), (index.vectors * np.nan, "NaN")):
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(bad, dtype=np.float32))
        (target / name).write_bytes(buf.getvalue())
        _reseal_file(target, name)
        with pytest.raises(IndexFormatError, match=message):
            SVMIndex.load(target)


def test_nan_in_manifest_is_refused(saved):
    target, _ = saved
    text = (target / MANIFEST).read_text().replace('"extra":{', '"extra":{"x":NaN,', 1)
    (target / MANIFEST).write_text(text)
    with pytest.raises(IndexFormatError):
        SVMIndex.load(target)


# ------------------------------------------------------------------------------ allocation
def _peak_during(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            fn()
        except LOAD_ERRORS:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gigantic_declared_counts_are_refused_before_allocating(tmp_path):
    index = _make(4, 20_000, dim=64)  # a 5 MiB vectors file
    target = tmp_path / "idx"
    index.save(target)
    vectors_bytes = index.vectors.nbytes
    for edit in (
        lambda m: m.update(count=10**12),
        lambda m: m.update(count=2**40, dim=2**40),
        lambda m: m["files"][m["vectors"]].update(size=10**14),
    ):
        _reseal(target, edit)
        with pytest.raises(IndexFormatError):
            SVMIndex.load(target)
        assert _peak_during(lambda: SVMIndex.load(target)) < vectors_bytes / 4
        index.save(target)
    # A header declaring a gigantic shape, in a file that is only a header.
    name = _manifest(target)["vectors"]
    _write_npy_header(target / name, (2**40, 64))
    _reseal_file(target, name)
    _reseal(target, lambda m: m.update(count=2**40))
    assert _peak_during(lambda: SVMIndex.load(target)) < 1 << 20


def test_loading_holds_one_copy_of_the_vectors_at_most(tmp_path):
    rng = np.random.default_rng(5)
    index = SVMIndex.from_embeddings(rng.normal(size=(4000, 512)))  # 8 MiB of vectors
    target = tmp_path / "idx"
    index.save(target)
    peak = _peak_during(lambda: SVMIndex.load(target))
    # The vectors once, plus block-sized temporaries and the (small) payload. Loading used to
    # hold the file's bytes, the array and full-size float64 copies at once (about 7x).
    assert peak < 1.8 * index.vectors.nbytes, peak / index.vectors.nbytes


def test_unsavable_text_fails_before_writing_anything(tmp_path):
    index = SVMIndex.from_embeddings(np.eye(2), texts=["ok", "bad \udc80 surrogate"])
    target = tmp_path / "idx"
    with pytest.raises((TypeError, ValueError), match="surrogate|encode"):
        index.save(target)
    assert not target.exists() or not any(target.iterdir())


def test_loaded_index_is_independent_of_the_files(saved):
    target, index = saved
    loaded = SVMIndex.load(target)
    for child in target.iterdir():
        child.unlink()
    assert _same(loaded, index)
    assert not loaded.vectors.flags.writeable


# ------------------------------------------------------------------------------ disk full
@needs_fork
def test_a_save_that_runs_out_of_space_leaves_the_previous_index(tmp_path):
    """A child whose file-size limit (RLIMIT_FSIZE) cuts its writes short, as a full disk would."""
    import resource

    a = _make(6, 200, dim=32)
    b = _make(7, 3000, dim=32, C=2.0)
    target = tmp_path / "idx"
    a.save(target, extra={"which": "A"})
    for limit in (100, 5_000, 50_000, 200_000, 380_000):
        pid = os.fork()
        if pid == 0:  # child
            status = 3
            try:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of a signal
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
                try:
                    b.save(target, extra={"which": "B"})
                    status = 0
                except OSError:
                    status = 1
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 1, f"limit {limit}: the save did not fail"
        loaded = SVMIndex.load(target)
        assert loaded.extra == {"which": "A"} and _same(loaded, a)
    b.save(target, extra={"which": "B"})  # with room again, the next save succeeds and cleans up
    assert _same(SVMIndex.load(target), b)
    assert len(os.listdir(target)) == 3

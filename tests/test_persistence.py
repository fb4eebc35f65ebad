"""Saving and loading an index: round trips, atomicity under SIGKILL, and damaged files refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from svm_retrievers import SVMIndex
from svm_retrievers.persistence import IndexFormatError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def index() -> SVMIndex:
    rng = np.random.default_rng(5)
    return SVMIndex.from_embeddings(
        rng.normal(size=(40, 8)),
        ids=[f"doc-{i}" for i in range(40)],
        texts=[f"text number {i}" if i % 5 else None for i in range(40)],
        metadatas=[{"i": i, "tags": ["a", "b"], "nested": {"x": i / 3}} for i in range(40)],
        C=0.5,
        mode="hybrid",
        alpha=0.3,
    )


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_round_trip_gives_identical_results(index, tmp_path):
    target = tmp_path / "idx"
    index.save(target, extra={"adapter": {"k": 4}})
    loaded = SVMIndex.load(target)
    assert loaded.ids == index.ids
    assert loaded.texts() == index.texts()
    assert loaded.metadatas() == index.metadatas()
    assert loaded.params == index.params
    assert loaded.extra == {"adapter": {"k": 4}}
    np.testing.assert_array_equal(loaded.vectors, index.vectors)
    assert loaded.vectors.dtype == np.float32
    q = np.random.default_rng(1).normal(size=8)
    for mode in ("svm", "knn", "hybrid"):
        assert loaded.search(q, k=10, mode=mode) == index.search(q, k=10, mode=mode)


def test_files_are_npy_and_json_only(index, tmp_path):
    index.save(tmp_path / "idx")
    names = sorted(os.listdir(tmp_path / "idx"))
    assert names[0] == "manifest.json"
    assert {Path(n).suffix for n in names} == {".json", ".npy"}
    manifest = _manifest(tmp_path / "idx")
    assert manifest["format_version"] == 1 and manifest["count"] == 40 and manifest["dim"] == 8
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"].values())


def test_resave_replaces_and_cleans_old_files(index, tmp_path):
    target = tmp_path / "idx"
    index.save(target)
    index.delete(["doc-0"])
    index.save(target)
    assert len(os.listdir(target)) == 3
    assert len(SVMIndex.load(target)) == 39


def test_empty_index_round_trips(tmp_path):
    empty = SVMIndex(dim=4)
    empty.save(tmp_path / "e")
    loaded = SVMIndex.load(tmp_path / "e")
    assert len(loaded) == 0 and loaded.dim == 4


def test_refuses_to_write_into_a_foreign_directory(index, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an index"):
        index.save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_refuses_to_overwrite_a_manifest_that_is_not_ours(index, tmp_path):
    web_app = '{"name": "my app", "start_url": "/"}'
    (tmp_path / "manifest.json").write_text(web_app)
    (tmp_path / "index.html").write_text("<html></html>")
    with pytest.raises(FileExistsError, match="its manifest.json is not an svm-retrievers index"):
        index.save(tmp_path)
    assert (tmp_path / "manifest.json").read_text() == web_app
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "manifest.json"]
    damaged = tmp_path / "damaged"
    index.save(damaged)
    text = (damaged / "manifest.json").read_text()
    (damaged / "manifest.json").write_text(text[: len(text) // 2])  # still ours: replaceable
    index.save(damaged)
    assert len(SVMIndex.load(damaged)) == len(index)


def test_user_files_named_like_temporaries_are_kept(index, tmp_path):
    (tmp_path / ".tmp-draft.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an index"):
        index.save(tmp_path)
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / ".tmp-backup.json").write_text("mine")
    stale = tmp_path / "idx" / f".tmp-{'0' * 32}.npy"  # what a killed save leaves
    stale.write_bytes(b"partial")
    index.save(tmp_path / "idx")
    assert (tmp_path / "idx" / ".tmp-backup.json").read_text() == "mine"
    assert not stale.exists()
    assert len(SVMIndex.load(tmp_path / "idx")) == len(index)


def test_an_unsavable_embedder_is_refused_before_any_file_is_written(index, tmp_path):
    copy = SVMIndex.from_embeddings(index.vectors, index.ids)
    copy.embedder = object()
    with pytest.raises(TypeError, match="has no to_state"):
        copy.save(tmp_path / "idx")
    assert not (tmp_path / "idx").exists()


def test_metadata_must_be_json(tmp_path):
    bad = SVMIndex.from_embeddings(np.eye(2), metadatas=[{"x": object()}, {}])
    with pytest.raises(TypeError, match="JSON-serializable"):
        bad.save(tmp_path / "idx")
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_missing_index(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"manifest.json is missing"):
        SVMIndex.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        SVMIndex.load(tmp_path / "nope")


# ----------------------------------------------------------------------------- damaged files
def _vectors_file(path: Path) -> Path:
    return path / _manifest(path)["vectors"]


def test_truncated_vectors_are_refused(index, tmp_path):
    index.save(tmp_path)
    f = _vectors_file(tmp_path)
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(IndexFormatError, match="truncated"):
        SVMIndex.load(tmp_path)


def test_bit_flip_is_refused(index, tmp_path):
    index.save(tmp_path)
    f = _vectors_file(tmp_path)
    data = bytearray(f.read_bytes())
    data[-7] ^= 0x10
    f.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="checksum"):
        SVMIndex.load(tmp_path)


def test_hand_edited_manifest_is_refused(index, tmp_path):
    index.save(tmp_path)
    manifest = _manifest(tmp_path)
    manifest["params"]["C"] = 5.0
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="edited or corrupted"):
        SVMIndex.load(tmp_path)


def test_edited_payload_is_refused(index, tmp_path):
    index.save(tmp_path)
    payload_file = tmp_path / _manifest(tmp_path)["payload"]
    payload_file.write_text(payload_file.read_text().replace("text number 1", "text number 9"))
    with pytest.raises(IndexFormatError, match="payload.*checksum"):
        SVMIndex.load(tmp_path)


def _rewrite_manifest(path: Path, edit) -> None:
    """Edit the manifest and re-seal its checksum, as a careful attacker would."""
    from svm_retrievers.persistence import _dumps, _sha256

    manifest = _manifest(path)
    manifest.pop("manifest_sha256")
    edit(manifest)
    manifest["manifest_sha256"] = _sha256(_dumps(manifest))
    (path / "manifest.json").write_bytes(_dumps(manifest))


def test_paths_outside_the_index_are_refused(index, tmp_path):
    index.save(tmp_path / "idx")
    (tmp_path / "secret.npy").write_bytes(b"x")

    def escape(m):
        m["files"]["../secret.npy"] = {"sha256": "0" * 64, "size": 1}
        m["vectors"] = "../secret.npy"

    _rewrite_manifest(tmp_path / "idx", escape)
    with pytest.raises(IndexFormatError, match="outside"):
        SVMIndex.load(tmp_path / "idx")


def test_declared_sizes_larger_than_files_are_refused_before_allocation(index, tmp_path):
    index.save(tmp_path)

    def huge(m):
        m["count"] = 10**12

    _rewrite_manifest(tmp_path, huge)
    with pytest.raises(IndexFormatError, match="shape"):
        SVMIndex.load(tmp_path)


def test_newer_format_is_refused_with_upgrade_hint(index, tmp_path):
    index.save(tmp_path)
    _rewrite_manifest(tmp_path, lambda m: m.update(format_version=99))
    with pytest.raises(IndexFormatError, match="newer.*upgrade"):
        SVMIndex.load(tmp_path)


def test_garbage_manifest_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_bytes(b"\x00\xff not json")
    with pytest.raises(IndexFormatError, match="not valid JSON"):
        SVMIndex.load(tmp_path)


# ----------------------------------------------------------------------------- solver cache
@pytest.fixture(scope="module")
def structured() -> SVMIndex:
    """Large enough (N x D >= 2M) for the solver's cached warm-start subspace, with principal
    directions worth keeping (a low-rank signal plus noise)."""
    rng = np.random.default_rng(11)
    signal = rng.normal(size=(2100, 24)) @ rng.normal(size=(24, 1024))
    return SVMIndex.from_embeddings(signal + 2.0 + 0.5 * rng.normal(size=(2100, 1024)))


def _query(index: SVMIndex, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return index.vectors[seed].astype(np.float64) + 0.1 * rng.normal(size=index.dim)


def _saved_with_cache(structured: SVMIndex, path: Path) -> SVMIndex:
    """A fresh copy of ``structured``, searched once (which builds the cache), saved at ``path``."""
    index = SVMIndex.from_embeddings(structured.vectors)
    index.search(_query(index, 0), k=5, mode="svm")
    index.save(path)
    return index


def test_solver_cache_is_saved_and_loaded_not_rebuilt(structured, tmp_path, monkeypatch):
    from svm_retrievers.solvers import export_cache, newton

    index = SVMIndex.from_embeddings(structured.vectors)
    index.save(tmp_path / "bare")  # no search yet: nothing cached, format 1
    assert _manifest(tmp_path / "bare")["cache"] is None
    assert _manifest(tmp_path / "bare")["format_version"] == 1
    index.search(_query(index, 0), k=5, mode="svm")
    built = export_cache(index._snap.cache)
    assert built is not None and built["directions"].shape[1] > 1  # mean + principal directions
    index.save(tmp_path / "idx")
    manifest = _manifest(tmp_path / "idx")
    assert manifest["format_version"] == 2
    assert manifest["cache"]["scores"].startswith("cache-scores-")

    def rebuild(*args, **kwargs):
        raise AssertionError("the saved warm-start directions were estimated again")

    monkeypatch.setattr(newton, "_top_directions", rebuild)
    loaded = SVMIndex.load(tmp_path / "idx")
    saved = export_cache(loaded._snap.cache)
    assert saved is not None and saved["n_estimated"] == built["n_estimated"]
    np.testing.assert_array_equal(saved["directions"], built["directions"])
    np.testing.assert_array_equal(saved["scores"], built["scores"])
    for seed in (1, 2):
        q = _query(index, seed)
        assert loaded.search(q, k=10, mode="svm") == index.search(q, k=10, mode="svm")
    with pytest.raises(AssertionError, match="estimated again"):  # the spy is live
        SVMIndex.load(tmp_path / "bare").search(_query(index, 3), k=5, mode="svm")


def _reseal_file(path: Path, name: str, data: bytes) -> None:
    from svm_retrievers.persistence import _sha256

    (path / name).write_bytes(data)
    _rewrite_manifest(
        path, lambda m: m["files"].update({name: {"sha256": _sha256(data), "size": len(data)}})
    )


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("zero scores", "scores do not match the vectors"),
        ("skewed directions", "not orthonormal"),
        ("nan scores", "NaN"),
        ("unknown file", "unknown file"),
    ],
)
def test_a_solver_cache_that_does_not_fit_is_refused(structured, tmp_path, damage, message):
    import io

    _saved_with_cache(structured, tmp_path)
    entry = _manifest(tmp_path)["cache"]
    scores = np.load(tmp_path / entry["scores"])
    directions = np.load(tmp_path / entry["directions"])
    if damage == "unknown file":
        _rewrite_manifest(tmp_path, lambda m: m["cache"].update(scores="cache-scores-x.npy"))
    else:
        name, arr = entry["scores"], np.zeros_like(scores)
        if damage == "skewed directions":
            name, arr = entry["directions"], directions * 1.01
        elif damage == "nan scores":
            arr = scores.copy()
            arr[5, 0] = np.nan
        buf = io.BytesIO()
        np.save(buf, arr)
        _reseal_file(tmp_path, name, buf.getvalue())
    with pytest.raises(IndexFormatError, match=message):
        SVMIndex.load(tmp_path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(cache="x"),
        lambda m: m["cache"].update(directions=7),
        lambda m: m["cache"].update(directions=m["vectors"]),  # a float32 matrix, not float64
        lambda m: m["cache"].update(scores=m["cache"]["directions"]),
        lambda m: m["cache"].update(n_estimated=True),
        lambda m: m["cache"].update(n_estimated=-3),
        lambda m: m["cache"].pop("n_estimated"),
    ],
)
def test_hand_edited_cache_entries_are_refused(structured, tmp_path, edit):
    _saved_with_cache(structured, tmp_path)
    _rewrite_manifest(tmp_path, edit)
    with pytest.raises(IndexFormatError, match="cache|dtype|shape"):
        SVMIndex.load(tmp_path)


# ----------------------------------------------------------------------------- crash during save
_SAVER = """
import sys, numpy as np
from svm_retrievers import SVMIndex
rng = np.random.default_rng(int(sys.argv[2]))
index = SVMIndex.from_embeddings(rng.normal(size=(5000, 64)), texts=["t" * 50] * 5000)
print("ready", flush=True)
while True:
    index.save(sys.argv[1])
"""


def test_sigkill_during_save_leaves_a_loadable_index(tmp_path):
    target = tmp_path / "idx"
    rng = np.random.default_rng(0)
    first = SVMIndex.from_embeddings(rng.normal(size=(30, 64)))
    first.save(target)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for attempt in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(target), str(attempt)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(0.02 + 0.07 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        loaded = SVMIndex.load(target)  # the previous or the new index, never a broken one
        assert len(loaded) in (30, 5000)
        q = np.ones(64)
        assert len(loaded.search(q, k=3)) == 3

"""Fuzzing the index loader: whatever the manifest and the files hold, ``SVMIndex.load`` returns an
index or raises one of its documented errors (``IndexFormatError``, ``FileNotFoundError``).

Mutations are applied both without and with a re-sealed manifest checksum (a careful hand-editor
or a hostile writer can recompute it), so the checks behind the checksum are fuzzed too.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from svm_retrievers import SVMIndex
from svm_retrievers.persistence import MANIFEST, IndexFormatError, _dumps, _sha256

DOCUMENTED = (IndexFormatError, FileNotFoundError)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([0, 1, -1, 2**31, 2**63, 10**18, 16, 30])
    | st.floats()  # NaN and infinities included: json.loads accepts them
    | st.text(max_size=12)
    | st.sampled_from(
        ["", "..", "/", "/etc/passwd", "../x.npy", "float32", "float64", "svm", "liblinear"]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    index = SVMIndex.from_embeddings(
        rng.normal(size=(12, 6)),
        ids=[f"d{i}" for i in range(12)],
        texts=[f"text {i}" for i in range(12)],
        metadatas=[{"i": i, "x": [i, {"y": None}]} for i in range(12)],
        C=0.5,
    )
    target = tmp_path_factory.mktemp("fuzz") / "idx"
    index.save(target, extra={"adapter": {"k": 3}})
    return target


def _copy(pristine: Path) -> Path:
    target = Path(tempfile.mkdtemp()) / "idx"
    shutil.copytree(pristine, target)
    return target


def _write_manifest(target: Path, manifest: Any, reseal: bool) -> None:
    if reseal and isinstance(manifest, dict):
        manifest.pop("manifest_sha256", None)
        try:
            manifest["manifest_sha256"] = _sha256(_dumps(manifest))
        except ValueError:  # NaN/inf cannot be sealed; write it unsealed
            pass
    (target / MANIFEST).write_text(json.dumps(manifest, allow_nan=True))


def _load_documented(target: Path) -> SVMIndex | None:
    try:
        index = SVMIndex.load(target)
    except DOCUMENTED as exc:
        assert str(exc), "an error without a message"
        return None
    finally:
        shutil.rmtree(target.parent, ignore_errors=True)
    # Whatever loads is a usable index.
    assert len(index.ids) == len(index) == index.vectors.shape[0]
    if len(index):
        assert len(index.search(np.ones(index.dim), k=2, mode="knn")) == min(2, len(index))
    return index


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key/index path into a JSON value (the root included)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, data: st.DataObject) -> Any:
    for _ in range(data.draw(st.integers(1, 3), label="n_mutations")):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths), label="path")
        op = data.draw(st.sampled_from(["set", "delete", "add"]), label="op")
        if not path:
            doc = data.draw(json_values, label="root") if op == "set" else doc
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        if op == "set":
            parent[last] = data.draw(json_values, label="value")
        elif op == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=10), label="new key")] = data.draw(json_values)
        else:
            parent.append(data.draw(json_values, label="appended"))
    return doc


@FUZZ
@given(data=st.data(), reseal=st.booleans())
def test_mutated_manifest_loads_or_raises_a_documented_error(pristine, data, reseal):
    target = _copy(pristine)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest = _mutate(manifest, data)
    _write_manifest(target, manifest, reseal)
    _load_documented(target)


@FUZZ
@given(data=st.data(), which=st.sampled_from(["payload", "vectors"]))
def test_mutated_payload_or_vectors_with_resealed_checksums(pristine, data, which):
    target = _copy(pristine)
    manifest = json.loads((target / MANIFEST).read_text())
    name = manifest[which]
    if which == "payload":
        payload = _mutate(json.loads((target / name).read_text()), data)
        raw = json.dumps(payload, allow_nan=True).encode()
    else:
        raw = data.draw(_npy_bytes(), label="npy")
    (target / name).write_bytes(raw)
    manifest["files"][name] = {"sha256": _sha256(raw), "size": len(raw)}
    if data.draw(st.booleans(), label="match count/dim"):
        shape = _header_shape(raw)
        if shape is not None and len(shape) == 2:
            manifest["count"], manifest["dim"] = shape
    _write_manifest(target, manifest, reseal=True)
    _load_documented(target)


def _header_shape(raw: bytes) -> tuple | None:
    # The fuzzed header may hold escape sequences that Python's parser warns about; this
    # helper (not the loader, which refuses such headers first) parses it with numpy.
    try:
        fh = io.BytesIO(raw)
        np.lib.format.read_magic(fh)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
            return np.lib.format.read_array_header_1_0(fh)[0]
    except Exception:
        return None


@st.composite
def _npy_bytes(draw) -> bytes:
    """A .npy file with a random (possibly lying) header and random data, or random bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    shape = tuple(
        draw(
            st.lists(
                st.integers(-3, 12) | st.sampled_from([2**32, 2**40, 2**62, 2**63 - 1]), max_size=3
            )
        )
    )
    descr = draw(st.sampled_from(["<f4", "<f8", ">f4", "<i8", "|u1", "<U3", "|O", "<c16", "|b1"]))
    buf = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(
            buf, {"descr": descr, "fortran_order": draw(st.booleans()), "shape": shape}
        )
    except ValueError:
        return draw(st.binary(max_size=200))
    header = buf.getvalue()
    if draw(st.booleans()):  # corrupt the header text itself
        pos = draw(st.integers(10, len(header) - 1))  # inside the header's dict literal
        junk = draw(
            st.sampled_from([b"(", b"[", b"{", b"'", b'"', b"\\", b"\x00", b"#"])
            | st.binary(min_size=1, max_size=4)
        )
        header = header[:pos] + junk + header[pos + 1 :]
    return header + draw(st.binary(max_size=96))


@FUZZ
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_manifest_bytes_load_or_raise_a_documented_error(pristine, raw):
    target = _copy(pristine)
    (target / MANIFEST).write_bytes(raw)
    _load_documented(target)


embedder_configs = json_values | st.fixed_dictionaries(
    {"kind": st.sampled_from(["offline-tfidf-svd", "openai", "pickle", ""])},
    optional={
        key: json_values
        | st.sampled_from([1, 2, 0, -1, 4, [1, 1], [1, 2], ["a", "b"], ["a", "a"], "english"])
        for key in (
            "version",
            "dim",
            "requested_dim",
            "max_features",
            "ngram_range",
            "stop_words",
            "min_df",
            "random_state",
            "vocabulary",
            "model",
            "dimensions",
            "base_url",
        )
    },
)
embedder_arrays = [
    np.arange(6.0),
    np.zeros((2, 3), dtype=np.float32),
    np.ones((4, 2), dtype=np.float32),
    np.array(["a", "b"]),
    np.full(3, np.nan, dtype=np.float32),
    np.zeros((0, 2), dtype=np.float64),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=embedder_configs,
    arrays=st.dictionaries(
        st.sampled_from(["idf", "components"]) | st.from_regex(r"[a-z]{1,6}", fullmatch=True),
        st.integers(0, len(embedder_arrays) - 1),
        max_size=3,
    ),
)
def test_fuzzed_embedder_entries_load_or_raise_a_documented_error(pristine, config, arrays):
    target = _copy(pristine)
    manifest = json.loads((target / MANIFEST).read_text())
    entry_arrays = {}
    for key, kind in arrays.items():
        buf = io.BytesIO()
        np.save(buf, embedder_arrays[kind])
        raw = buf.getvalue()
        name = f"embedder-{key}-{_sha256(raw)[:12]}.npy"
        (target / name).write_bytes(raw)
        manifest["files"][name] = {"sha256": _sha256(raw), "size": len(raw)}
        entry_arrays[key] = name
    manifest["embedder"] = {"config": config, "arrays": entry_arrays}
    _write_manifest(target, manifest, reseal=True)
    _load_documented(target)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_offline_embedder_state_loads_or_raises_a_documented_error(pristine, data):
    embeddings = pytest.importorskip("svm_retrievers.embeddings")
    embedder = embeddings.OfflineEmbedder(dim=3)
    embedder.fit(["alpha beta gamma", "beta gamma delta", "gamma delta alpha", "delta beta"])
    index = SVMIndex.load(pristine)
    index.embedder = embedder
    target = Path(tempfile.mkdtemp()) / "idx"
    index.save(target)
    manifest = json.loads((target / MANIFEST).read_text())
    if data.draw(st.booleans(), label="mutate config"):
        manifest["embedder"]["config"] = _mutate(manifest["embedder"]["config"], data)
    else:  # replace one array by another shape/dtype/values
        key = data.draw(st.sampled_from(sorted(manifest["embedder"]["arrays"])), label="array")
        arr = embedder_arrays[data.draw(st.integers(0, len(embedder_arrays) - 1), label="by")]
        buf = io.BytesIO()
        np.save(buf, arr)
        raw = buf.getvalue()
        name = f"embedder-{key}-{_sha256(raw)[:12]}.npy"
        (target / name).write_bytes(raw)
        manifest["files"][name] = {"sha256": _sha256(raw), "size": len(raw)}
        manifest["embedder"]["arrays"][key] = name
    _write_manifest(target, manifest, reseal=True)
    _load_documented(target)


def test_npy_header_with_escapes_raises_without_python_warnings(pristine):
    # A header damaged into holding a backslash ('\,' is an invalid escape sequence) must
    # give IndexFormatError, not a DeprecationWarning/SyntaxWarning from Python's parser.
    target = _copy(pristine)
    manifest = json.loads((target / MANIFEST).read_text())
    name = manifest["vectors"]
    raw = (target / name).read_bytes()
    assert b"'<f4'" in raw[:128]
    raw = raw.replace(b"'<f4'", b"'\\,4'", 1)  # inside a string; same length, still aligned
    (target / name).write_bytes(raw)
    manifest["files"][name] = {"sha256": _sha256(raw), "size": len(raw)}
    _write_manifest(target, manifest, reseal=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(IndexFormatError):
            SVMIndex.load(target)
    assert not [w for w in caught if issubclass(w.category, (DeprecationWarning, SyntaxWarning))]

"""A Milvus collection as a candidate source, through ``pymilvus.MilvusClient``.

A local file URI (``"./svm.db"``) runs embedded Milvus Lite (``pip install milvus-lite``,
no server); ``"http://host:19530"`` (with ``token="user:password"`` or an API key) talks to
a Milvus standalone or cluster deployment, or Zilliz Cloud, with the same code. Needs the
``milvus`` extra: ``pip install "svm-retrievers[milvus]"``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..validation import (
    check_id_list,
    check_ids,
    check_k,
    check_matrix,
    check_optional_list,
    check_vector,
)
from .base import Candidates
from .searcher import CandidateSearcher

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METRICS = ("COSINE", "IP", "L2")
_RESPONSE_BYTES = 32 * 2**20  # batched searches are split to keep each response about this size


class MilvusSource:
    """Candidates, collection size and writes for one Milvus collection.

    Args:
        uri: a local file path (Milvus Lite) or a server URI (``http://host:19530``).
        collection_name: the collection; created on the first :meth:`add` if missing
            (or at once when ``dim`` is given) with fields ``id_field`` (VARCHAR primary
            key), ``vector_field`` (FLOAT_VECTOR), ``text_field`` (VARCHAR) and dynamic
            fields for metadata, indexed ``index_type`` (``"FLAT"``: exact) with
            ``metric``.
        vector_field, id_field, text_field: field names (``vector_field=None``: the only
            float-vector field of an existing collection, ``"vector"`` when creating;
            ``id_field=None`` or a missing ``"id"``: the primary key of an existing
            collection; a ``text_field`` the collection lacks, or ``None``: no text field).
        metadata_fields: fields returned as metadata (default: every other field,
            dynamic ones included).
        metadata_field: a JSON field holding each document's metadata dict (as
            ``langchain-milvus`` writes with ``metadata_field=...``); its keys are merged
            into the metadata, and :meth:`add` writes metadata into it.
        token: credentials for a server (``"user:password"`` or an API key).
        client: an existing ``MilvusClient`` instead of ``uri``/``token``.
        dim, metric, index_type: used when creating the collection.

    The collection's metric must be ``COSINE`` (any stored vectors), or ``IP``/``L2`` on
    unit-norm stored vectors (checked on every candidate batch). Vectors are read back from
    the search (``output_fields``), normalized; nothing is embedded again.

    ``where`` (a filter) is a Milvus boolean expression string (``'lang == "en" and
    year > 2020'``) or a dict of required values (``{"lang": "en"}``; list values mean
    ``in``), pushed down to Milvus for the search and the count.

    The collection size ``N`` (which sets the SVM's class weights) is counted with
    ``count(*)`` and cached per filter; writes through this object clear the cache, and
    :meth:`refresh` clears it after writes by other clients.
    """

    def __init__(
        self,
        uri: str | None = None,
        collection_name: str = "svm_retrievers",
        *,
        vector_field: str | None = "vector",
        id_field: str | None = "id",
        text_field: str | None = "text",
        metadata_fields: Sequence[str] | None = None,
        metadata_field: str | None = None,
        token: str = "",
        client: Any = None,
        dim: int | None = None,
        metric: str = "COSINE",
        index_type: str = "FLAT",
        max_text_length: int = 65535,
    ) -> None:
        if client is None:
            if not isinstance(uri, str) or not uri:
                msg = f"uri must be a non-empty str (a file path or http://host:19530), got {uri!r}"
                raise TypeError(msg)
            try:
                from pymilvus import MilvusClient
            except ImportError as exc:  # pragma: no cover - depends on the environment
                msg = 'MilvusSource needs pymilvus: pip install "svm-retrievers[milvus]"'
                raise ImportError(msg) from exc
            client = MilvusClient(uri=uri, token=token)
        if not isinstance(collection_name, str) or not _NAME.match(collection_name):
            msg = f"collection_name must be letters, digits and _, got {collection_name!r}"
            raise ValueError(msg)
        metric = str(metric).upper()
        if metric not in _METRICS:
            msg = f"metric must be one of {_METRICS}, got {metric!r}"
            raise ValueError(msg)
        self.client = client
        self.collection_name = collection_name
        self.vector_field = vector_field or "vector"
        self._auto_vector = vector_field is None
        self.id_field = id_field
        self.text_field = text_field
        self.metadata_fields = list(metadata_fields) if metadata_fields is not None else None
        self.metadata_field = metadata_field
        self._create_metric = metric
        self._index_type = index_type
        self._max_text_length = max_text_length
        self._counts: dict[str, int] = {}
        self._mean: np.ndarray | None = None
        self._lock = threading.Lock()
        self._dim: int | None = None
        self._int_ids = False
        self._auto_id = False
        self._metric = metric
        self._dynamic = True
        self._static: list[str] = []
        if client.has_collection(collection_name):
            self._read_schema()
            client.load_collection(collection_name)  # a reopened collection starts released
        elif dim is not None:
            self._create(check_k(dim, "dim"))

    def __getstate__(self) -> dict[str, Any]:
        msg = (
            "a MilvusSource holds a client connection and cannot be copied or pickled:"
            " open another over the same collection (MilvusSource(uri, collection_name))"
        )
        raise TypeError(msg)

    # ------------------------------------------------------------------ schema
    def _read_schema(self) -> None:
        info = self.client.describe_collection(self.collection_name)
        fields = {f["name"]: f for f in info["fields"]}
        primary = [f["name"] for f in info["fields"] if f.get("is_primary")]
        if self.id_field is None or self.id_field not in fields:
            if (self.id_field is not None and self.id_field != "id") or not primary:
                msg = f"id_field {self.id_field!r} is not a field of {self.collection_name!r}"
                raise ValueError(msg)
            self.id_field = primary[0]
        vectors = [n for n, f in fields.items() if "dim" in f.get("params", {})]
        if self._auto_vector and self.vector_field not in fields and len(vectors) == 1:
            self.vector_field = vectors[0]
        if self.vector_field not in fields:
            msg = (
                f"vector_field {self.vector_field!r} is not a field of {self.collection_name!r}"
                f" (vector fields: {vectors})"
            )
            raise ValueError(msg)
        if self.text_field is not None and self.text_field not in fields:
            self.text_field = None
        self._dim = int(fields[self.vector_field]["params"]["dim"])
        self._int_ids = _is_int_type(fields[self.id_field]["type"])
        self._auto_id = bool(fields[self.id_field].get("auto_id", info.get("auto_id", False)))
        self._dynamic = bool(info.get("enable_dynamic_field", False))
        special = {f for f in (self.id_field, self.vector_field, self.text_field) if f}
        self._static = [
            n for n, f in fields.items() if n not in special and "dim" not in f.get("params", {})
        ]
        self._metric = self._read_metric()

    def _read_metric(self) -> str:
        for name in self.client.list_indexes(self.collection_name):
            desc = self.client.describe_index(self.collection_name, name)
            if desc.get("field_name") == self.vector_field:
                metric = str(desc.get("metric_type", "COSINE")).upper()
                if metric not in _METRICS:
                    field = self.vector_field
                    msg = f"the index on {field!r} has metric {metric}; need one of {_METRICS}"
                    raise ValueError(msg)
                return metric
        return self._create_metric

    def _create(self, dim: int) -> None:
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=True)
        schema.add_field(self.id_field or "id", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field(self.vector_field, DataType.FLOAT_VECTOR, dim=dim)
        if self.text_field is not None:
            schema.add_field(self.text_field, DataType.VARCHAR, max_length=self._max_text_length)
        index_params = self.client.prepare_index_params()
        index_params.add_index(
            self.vector_field, index_type=self._index_type, metric_type=self._create_metric
        )
        self.client.create_collection(
            self.collection_name, schema=schema, index_params=index_params
        )
        self.id_field = self.id_field or "id"
        self._read_schema()

    @property
    def dim(self) -> int | None:
        """The vector dimension (``None`` before the collection exists)."""
        return self._dim

    @property
    def metric(self) -> str:
        """The collection's metric (``COSINE``, ``IP`` or ``L2``)."""
        return self._metric

    def refresh(self) -> None:
        """Forget cached collection counts (after writes by other clients)."""
        with self._lock:
            self._counts.clear()
            self._mean = None

    def mean_vector(self, batch_size: int = 4096) -> np.ndarray:
        """The mean of the stored vectors (L2-normalized), for calibrated relevance.

        One pass over the collection's vectors (``query_iterator``) on first use, cached
        until a write through this object or :meth:`refresh`.
        """
        with self._lock:
            if self._mean is not None:
                return self._mean
        total = np.zeros(self._dim or 0, dtype=np.float64)
        count = 0
        if self._dim is not None:
            iterator = self.client.query_iterator(
                self.collection_name, batch_size=batch_size, output_fields=[self.vector_field]
            )
            try:
                while batch := iterator.next():
                    raw = np.asarray([row[self.vector_field] for row in batch], np.float64)
                    norms = np.linalg.norm(raw, axis=1)
                    norms[norms == 0] = 1.0
                    total += (raw / norms[:, None]).sum(axis=0)
                    count += len(batch)
            finally:
                iterator.close()
        mean = total / max(count, 1)
        with self._lock:
            self._mean = mean
        return mean

    # ------------------------------------------------------------------ filters
    _OPERATORS = ("==", "!=", ">", ">=", "<", "<=", "in", "not in", "like")
    _ARRAY_OPERATORS = ("array_contains", "array_contains_any", "array_contains_all")

    def field_ref(self, key: str) -> str:
        """How a filter names metadata key ``key`` (inside the JSON ``metadata_field``)."""
        if not isinstance(key, str) or not _NAME.match(key):
            msg = f"where keys (metadata filter keys) must be field names, got {key!r}"
            raise ValueError(msg)
        if self.metadata_field and key not in self._static:
            return f"{self.metadata_field}[{json.dumps(key)}]"
        return key

    def condition(self, key: str, op: str, value: Any) -> str:
        """One comparison as a Milvus expression: ``key op value``.

        ``op`` is one of ``==, !=, >, >=, <, <=, in, not in, like`` or ``array_contains``,
        ``array_contains_any``, ``array_contains_all``; values are quoted as Milvus literals.
        """
        name = self.field_ref(key)
        if op in self._ARRAY_OPERATORS:
            return f"{op}({name}, {_literal(value)})"
        if op not in self._OPERATORS:
            msg = f"op must be one of {[*self._OPERATORS, *self._ARRAY_OPERATORS]}, got {op!r}"
            raise ValueError(msg)
        if op in ("in", "not in") and isinstance(value, (tuple, set, frozenset)):
            value = list(value)
        return f"{name} {op} {_literal(value)}"

    def filter_expression(self, where: Any) -> str:
        """The Milvus expression for ``where`` (a str, a dict of required values, or None)."""
        if where is None:
            return ""
        if isinstance(where, str):
            return where
        if isinstance(where, Mapping):
            multi = (list, tuple, set, frozenset)
            return " and ".join(
                self.condition(key, "in" if isinstance(value, multi) else "==", value)
                for key, value in where.items()
            )
        msg = (
            "where must be a Milvus filter expression (str) or a dict of required values,"
            f" got {type(where).__name__}"
        )
        raise TypeError(msg)

    # ------------------------------------------------------------------ reads
    def size(self, where: Any = None) -> int:
        """How many documents match ``where`` (all for ``None``)."""
        expr = self.filter_expression(where)
        with self._lock:
            cached = self._counts.get(expr)
        if cached is not None:
            return cached
        if self._dim is None:
            return 0
        rows = self.client.query(self.collection_name, filter=expr, output_fields=["count(*)"])
        count = int(rows[0]["count(*)"])
        with self._lock:
            self._counts[expr] = count
        return count

    def candidates(self, query_vector: np.ndarray, m: int, where: Any = None) -> Candidates:
        """The ``m`` documents nearest ``query_vector`` (matching ``where``), with vectors."""
        return self.candidates_batch(self._one(query_vector, "query_vector"), m, where)[0]

    def candidates_batch(self, query_vectors: Any, m: int, where: Any = None) -> list[Candidates]:
        """:meth:`candidates` for each row of ``query_vectors``, in as few searches as fit.

        One search request carries many query vectors (Milvus scans the collection once for
        all of them); requests are split so that each response stays under about 32 MB.
        """
        queries = self._queries(query_vectors)
        m = check_k(m, "m")
        per_row = 4 * queries.shape[1] + 256  # the vector, and a margin for id, text, metadata
        results = self._search(queries, m, where, self._output_fields(), per_row)
        return [self._to_candidates(rows, q) for rows, q in zip(results, queries, strict=True)]

    def neighbours(
        self, vector: np.ndarray, m: int, where: Any = None
    ) -> tuple[list[str], np.ndarray] | None:
        """Ids and cosines of the ``m`` documents nearest ``vector``, without payload.

        ``None`` unless the metric is COSINE (then callers use :meth:`candidates`).
        """
        if self._metric != "COSINE" or self._dim is None:
            return None
        return self.neighbours_batch(self._one(vector, "vector"), m, where)[0]

    def neighbours_batch(
        self, vectors: Any, m: int, where: Any = None
    ) -> list[tuple[list[str], np.ndarray] | None]:
        """:meth:`neighbours` for each row of ``vectors``, in as few searches as fit."""
        if self._metric != "COSINE" or self._dim is None:
            return [None] * len(vectors)
        queries = self._queries(vectors, "vectors")
        # An empty output_fields list returns every field (vectors included) on Milvus Lite.
        results = self._search(queries, check_k(m, "m"), where, [str(self.id_field)], 64)
        return [
            (
                [str(row[self.id_field]) for row in rows],
                np.array([row["distance"] for row in rows], dtype=np.float64),
            )
            for rows in results
        ]

    def _one(self, vector: Any, name: str) -> np.ndarray:
        """One query vector, validated, as a ``(1, dim)`` float32 array."""
        self._require_collection()
        return check_vector(vector, name, dim=self._dim).astype(np.float32)[None, :]

    def _require_collection(self) -> None:
        if self._dim is None:
            msg = f"collection {self.collection_name!r} does not exist yet; add documents first"
            raise ValueError(msg)

    def _queries(self, vectors: Any, name: str = "query_vectors") -> np.ndarray:
        self._require_collection()
        rows = np.asarray(vectors)
        if rows.ndim != 2 or rows.shape[0] == 0:
            msg = (
                f"{name} must be a non-empty 2-D array (one row per query), got shape {rows.shape}"
            )
            raise ValueError(msg)
        return np.stack([check_vector(v, name, dim=self._dim).astype(np.float32) for v in rows])

    def _search(
        self,
        queries: np.ndarray,
        limit: int,
        where: Any,
        output_fields: list[str],
        row_bytes: int,
    ) -> list[list[Any]]:
        """One result list per query, from searches of at most ~32 MB of results each."""
        expr = self.filter_expression(where)
        chunk = max(1, _RESPONSE_BYTES // max(1, limit * row_bytes))
        out: list[list[Any]] = []
        for start in range(0, queries.shape[0], chunk):
            result = self.client.search(
                self.collection_name,
                data=list(queries[start : start + chunk]),
                limit=limit,
                filter=expr,
                output_fields=output_fields,
                anns_field=self.vector_field,
            )
            out.extend(list(hits) for hits in result)
        return out

    def fetch(self, ids: Sequence[str]) -> Candidates:
        """The documents with these ids, with vectors and payload (``knn`` is NaN)."""
        if not ids:
            dim = self._dim or 0
            return Candidates([], np.zeros((0, dim), np.float32), np.zeros(0), [], [])
        keys = self._keys(ids)
        if not keys:  # no id can be stored (not integers, for integer keys)
            return self.fetch([])
        rows = self.client.get(self.collection_name, ids=keys, output_fields=self._output_fields())
        by_id = {str(row[self.id_field]): row for row in rows}
        ordered = [{"entity": by_id[i], self.id_field: i} for i in ids if i in by_id]
        got = self._to_candidates(ordered, np.zeros(self._dim or 0, dtype=np.float32))
        return Candidates(got.ids, got.vectors, np.full(len(got), np.nan), got.texts, got.metadatas)

    def _output_fields(self) -> list[str]:
        if self.metadata_fields is None:
            return ["*"]
        fields = [self.vector_field, *self.metadata_fields]
        if self.text_field is not None:
            fields.append(self.text_field)
        return fields

    def _to_candidates(self, rows: list[Any], query: np.ndarray) -> Candidates:
        dim = self._dim or query.size
        if not rows:
            return Candidates([], np.zeros((0, dim), np.float32), np.zeros(0), [], [])
        raw = np.asarray([row["entity"][self.vector_field] for row in rows], dtype=np.float32)
        norms = np.linalg.norm(raw, axis=1)
        if self._metric != "COSINE" and np.any(np.abs(norms - 1.0) > 1e-3):
            msg = (
                f"collection {self.collection_name!r} uses metric {self._metric} on vectors that"
                " are not unit-norm; candidates would not be the nearest by cosine"
                " (use metric COSINE or store normalized vectors)"
            )
            raise ValueError(msg)
        norms[norms == 0] = 1.0
        vectors = raw / norms[:, None]
        special = {self.id_field, self.vector_field, self.text_field, self.metadata_field}
        texts: list[str | None] = []
        metadatas: list[dict[str, Any]] = []
        for row in rows:
            entity = row["entity"]
            texts.append(entity.get(self.text_field) if self.text_field else None)
            meta = {k: v for k, v in entity.items() if k not in special}
            nested = entity.get(self.metadata_field) if self.metadata_field else None
            if isinstance(nested, Mapping):
                meta.update(nested)
            metadatas.append(meta)
        return Candidates(
            ids=[str(row[self.id_field]) for row in rows],
            vectors=vectors,
            knn=(vectors @ query).astype(np.float64),
            texts=texts,
            metadatas=metadatas,
        )

    # ------------------------------------------------------------------ writes
    def add(
        self,
        vectors: Any,
        ids: Sequence[str] | None = None,
        *,
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        batch_size: int = 5000,
    ) -> list[str]:
        """Insert documents (upsert on existing ids); returns their ids.

        Vectors are stored L2-normalized; metadata keys become (dynamic) fields.
        """
        matrix = check_matrix(vectors, "vectors", dim=self._dim, dtype=np.float32)
        n = matrix.shape[0]
        if self._auto_id and ids is not None:
            msg = (
                f"collection {self.collection_name!r} generates its own ids (auto_id):"
                " add without ids"
            )
            raise ValueError(msg)
        if ids is None:
            import uuid

            # Integer keys get random positive 63-bit ids; auto_id ones are Milvus's.
            new_ids = [
                str(uuid.uuid4().int >> 65) if self._int_ids else uuid.uuid4().hex for _ in range(n)
            ]
        else:
            new_ids = check_ids(ids, n)
            if self._int_ids:
                self._keys(new_ids, strict=True)
        text_list = check_optional_list(texts, n, "texts") or [None] * n
        meta_list = check_optional_list(metadatas, n, "metadatas") or [None] * n
        if self._dim is None:
            self._create(matrix.shape[1])
        special = {f for f in (self.id_field, self.vector_field, self.text_field) if f}
        rows = []
        for i in range(n):
            meta = meta_list[i] or {}
            if not isinstance(meta, Mapping):
                msg = f"metadatas[{i}] must be a dict or None, got {type(meta).__name__}"
                raise TypeError(msg)
            clash = special & set(meta)
            if clash:
                msg = f"metadatas[{i}] uses reserved field name(s) {sorted(clash)}"
                raise ValueError(msg)
            row: dict[str, Any] = (
                {self.metadata_field: dict(meta)} if self.metadata_field else dict(meta)
            )
            if not self._auto_id:
                row[self.id_field or "id"] = int(new_ids[i]) if self._int_ids else new_ids[i]
            row[self.vector_field] = matrix[i]
            if self.text_field is not None:
                row[self.text_field] = text_list[i] if text_list[i] is not None else ""
            rows.append(row)
        if self._auto_id:
            new_ids = []
            for start in range(0, n, batch_size):
                done = self.client.insert(self.collection_name, rows[start : start + batch_size])
                new_ids.extend(str(i) for i in done["ids"])
        else:
            for start in range(0, n, batch_size):
                self.client.upsert(self.collection_name, rows[start : start + batch_size])
        self.refresh()
        return new_ids

    def delete(self, ids: Sequence[str]) -> None:
        """Delete the documents with these ids."""
        targets = self._keys(check_id_list(ids))
        if targets and self._dim is not None:
            self.client.delete(self.collection_name, ids=targets)
        self.refresh()

    def close(self) -> None:
        """Close the client connection."""
        self.client.close()

    def _keys(self, ids: Iterable[Any], *, strict: bool = False) -> list[Any]:
        """``ids`` as the collection's primary keys. With integer keys, an id that is not an
        integer cannot be stored: it is left out, or refused with ``strict``."""
        if not self._int_ids:
            return [str(i) for i in ids]
        keys = []
        for i in ids:
            try:
                keys.append(int(i))
            except (TypeError, ValueError):
                if strict:
                    msg = (
                        f"collection {self.collection_name!r} has an integer primary key"
                        f" ({self.id_field!r}): id {i!r} is not an integer"
                    )
                    raise ValueError(msg) from None
        return keys


def _is_int_type(kind: Any) -> bool:
    """Whether a field type from ``describe_collection`` is an integer type (a ``DataType``,
    its int value, or its name, depending on the pymilvus version)."""
    from pymilvus import DataType

    ints = {DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64}
    if isinstance(kind, str):
        return kind.upper().removeprefix("DATATYPE.") in {t.name for t in ints}
    try:
        return DataType(int(kind)) in ints
    except (TypeError, ValueError):
        return False


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    got = (
        "None (a dict filter cannot match None over Milvus)"
        if value is None
        else type(value).__name__
    )
    msg = f"where values must be str, int, float, bool or lists of them, got {got}"
    raise TypeError(msg)


class MilvusSVMSearcher(CandidateSearcher):
    """Exact exemplar-SVM, kNN and hybrid search over a Milvus collection.

    ``MilvusSVMSearcher(uri, collection_name, **options)`` is
    ``CandidateSearcher(MilvusSource(uri, collection_name, ...), ...)``: source options
    (``vector_field``, ``id_field``, ``text_field``, ``metadata_fields``, ``token``,
    ``client``, ``dim``, ``metric``, ``index_type``) go to :class:`MilvusSource`, the rest
    (``m``, ``max_m``, ``verify``, ``mode``, ``C``, ``alpha``, ...) to
    :class:`~svm_retrievers.sources.CandidateSearcher`.

    Example:
        >>> searcher = MilvusSVMSearcher("./svm.db", "docs")  # doctest: +SKIP
        >>> searcher.add(vectors, ids, texts=texts, metadatas=metas)  # doctest: +SKIP
        >>> hits = searcher.search(query_vector, k=5, where={"lang": "en"})  # doctest: +SKIP
    """

    _SOURCE_OPTIONS = (
        "metadata_field",
        "vector_field",
        "id_field",
        "text_field",
        "metadata_fields",
        "token",
        "client",
        "dim",
        "metric",
        "index_type",
        "max_text_length",
    )

    def __init__(
        self, uri: str | None = None, collection_name: str = "svm_retrievers", **options: Any
    ) -> None:
        source_options = {k: options.pop(k) for k in self._SOURCE_OPTIONS if k in options}
        super().__init__(MilvusSource(uri, collection_name, **source_options), **options)
        self.source: MilvusSource

    @classmethod
    def open(
        cls,
        uri: str | None = None,
        collection_name: str = "svm_retrievers",
        *,
        dim: int | None = None,
        **options: Any,
    ) -> MilvusSVMSearcher:
        """A searcher over an existing collection; with ``dim``, a missing one is created.

        Raises ``ValueError`` naming the collections that exist when ``collection_name``
        does not and no ``dim`` is given (a typo, or the wrong database).
        """
        searcher = cls(uri, collection_name, dim=dim, **options)
        if searcher.dim is None:
            source = searcher.source
            names = sorted(source.client.list_collections())
            if options.get("client") is None:
                source.close()
            msg = (
                f"collection {collection_name!r} does not exist in {uri or 'the given client'!r}"
                f" (collections there: {names}); pass dim=... to create it"
            )
            raise ValueError(msg)
        return searcher

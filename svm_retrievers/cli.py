"""The ``svm-retrievers`` command line: ``index``, ``query``, ``demo`` and ``eval``.

``svm-retrievers demo`` needs no network and no model: it indexes the standard library's own
documentation with the offline TF-IDF/SVD embedder and shows kNN, SVM and hybrid rankings side
by side. Errors print one clear line to stderr and exit with status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import __version__
from .embeddings import EmbeddingError, OfflineEmbedder
from .index import SVMIndex
from .params import DEFAULT_MODE
from .persistence import check_save_target
from .scoring import top_k
from .validation import MODES

PROG = "svm-retrievers"
EMBEDDERS = ("offline", "openai")
KIND_OF = {"offline": "offline-tfidf-svd", "openai": "openai"}
TEXT_SUFFIXES = (".txt", ".md")
SCORE_NAMES = {
    "knn": "kNN (cosine)",
    "svm": "SVM (decision value)",
    "hybrid": "hybrid (z-score mean)",
}
DISPLAY_ORDER = ("knn", "svm", "hybrid")
"""The order of the side-by-side columns."""


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------- progress
class Progress:
    """A dependency-free progress bar on stderr (a redrawn bar on a terminal, one line otherwise)."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        if self.tty:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        elapsed = time.perf_counter() - self.start
        line = f"{self.label}: {self.done}/{self.total} done in {elapsed:.1f} s"
        if self.tty:  # overwrite the bar, padding over its tail
            line = f"\r{line:<{len(self.label) + 48}}"
        self.stream.write(line + "\n")
        self.stream.flush()


def embed_with_progress(embedder: Any, texts: Sequence[str], label: str, batch: int) -> np.ndarray:
    """Embed ``texts`` in batches, showing progress; returns a float32 ``(n, dim)`` array."""
    progress = Progress(label, len(texts))
    parts = []
    for start in range(0, len(texts), batch):
        chunk = list(texts[start : start + batch])
        parts.append(np.asarray(embedder.embed(chunk), dtype=np.float32))
        progress.update(len(chunk))
    progress.close()
    return np.vstack(parts) if parts else np.zeros((0, 0), dtype=np.float32)


# ---------------------------------------------------------------------------------- sources
def read_source(
    source: Path, text_field: str = "text", id_field: str = "id"
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """``(ids, texts, metadatas)`` from a folder of .txt/.md files or a .jsonl file."""
    if not source.exists():
        msg = f"source {str(source)!r} does not exist"
        raise CLIError(msg)
    if source.is_dir():
        return _read_folder(source)
    if source.suffix.lower() == ".jsonl":
        return _read_jsonl(source, text_field, id_field)
    msg = f"source {str(source)!r} must be a folder of .txt/.md files or a .jsonl file"
    raise CLIError(msg)


def _read_folder(folder: Path) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
    )
    if not files:
        msg = f"folder {str(folder)!r} holds no .txt or .md files"
        raise CLIError(msg)
    ids, texts, metas = [], [], []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            msg = f"cannot read {str(path)!r}: {exc}"
            raise CLIError(msg) from exc
        ids.append(path.relative_to(folder).as_posix())
        texts.append(text)
        metas.append({"source": str(path)})
    return ids, texts, metas


def _read_jsonl(
    path: Path, text_field: str, id_field: str
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    ids: list[str] = []
    texts: list[str] = []
    metas: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    try:
        handle = path.open("rb")  # decoded line by line: a bad byte is reported with its line
    except OSError as exc:
        msg = f"cannot read {str(path)!r}: {exc}"
        raise CLIError(msg) from exc
    with handle:
        for lineno, raw in enumerate(handle, start=1):
            where = f"{path}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                msg = f"{where}: not valid UTF-8 (byte {exc.start + 1} of the line)"
                raise CLIError(msg) from exc
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                msg = f"{where}: malformed JSON ({exc.msg} at column {exc.colno})"
                raise CLIError(msg) from exc
            except RecursionError as exc:
                msg = f"{where}: JSON nested too deeply"
                raise CLIError(msg) from exc
            if not isinstance(obj, dict):
                msg = f"{where}: expected a JSON object, got {type(obj).__name__}"
                raise CLIError(msg)
            text = obj.get(text_field)
            if not isinstance(text, str):
                found = "missing" if text is None else f"a {type(text).__name__}"
                msg = f"{where}: the text field {text_field!r} must be a string, it is {found}"
                raise CLIError(msg)
            raw_id = obj.get(id_field, str(lineno))
            if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool):
                msg = f"{where}: the id field {id_field!r} must be a string or an integer"
                raise CLIError(msg)
            doc_id = str(raw_id)
            if not doc_id:
                msg = f"{where}: the id field {id_field!r} is an empty string"
                raise CLIError(msg)
            if doc_id in seen:
                msg = f"{where}: duplicate id {doc_id!r} (first on line {seen[doc_id]})"
                raise CLIError(msg)
            seen[doc_id] = lineno
            meta = obj.get("metadata", {})
            if not isinstance(meta, dict):
                msg = f"{where}: 'metadata' must be a JSON object"
                raise CLIError(msg)
            extra = {k: v for k, v in obj.items() if k not in (text_field, id_field, "metadata")}
            ids.append(doc_id)
            texts.append(text)
            metas.append({**extra, **meta})
    if not ids:
        msg = f"{str(path)!r} holds no documents"
        raise CLIError(msg)
    return ids, texts, metas


# ---------------------------------------------------------------------------------- embedders
def make_embedder(args: argparse.Namespace) -> Any:
    """The embedder chosen by ``--embedder`` and its options (the OpenAI key is checked now)."""
    if args.embedder == "offline":
        return OfflineEmbedder(dim=args.dim or 256)
    try:
        from .embeddings.openai import OpenAIEmbedder
    except ImportError as exc:
        msg = "the openai embedder needs the openai package: pip install 'svm-retrievers[openai]'"
        raise CLIError(msg) from exc
    embedder = OpenAIEmbedder(
        model=args.model or "text-embedding-3-small",
        dimensions=args.dim,
        base_url=args.base_url,
        batch_size=args.batch_size,
        max_retries=args.max_retries,
    )
    try:
        embedder.client  # noqa: B018  (fails fast without an API key)
    except EmbeddingError as exc:
        raise CLIError(str(exc)) from exc
    return embedder


def _embedder_name(embedder: Any) -> str:
    config, _ = embedder.to_state()
    model = config.get("model")
    return f"{config['kind']} ({model})" if model else str(config["kind"])


# ---------------------------------------------------------------------------------- index
def cmd_index(args: argparse.Namespace) -> int:
    source, out = Path(args.source), Path(args.out)
    try:  # before embedding, which may be a paid run
        check_save_target(out)
    except OSError as exc:
        raise CLIError(str(exc)) from exc
    embedder = make_embedder(args)
    ids, texts, metas = read_source(source, args.text_field, args.id_field)
    blank = [i for i, t in enumerate(texts) if not t.strip()]
    if blank:
        _warn_skipped(len(blank), "empty", [ids[i] for i in blank])
        keep = [i for i, t in enumerate(texts) if t.strip()]
        ids, texts, metas = _subset(keep, ids, texts, metas)
    if not texts:
        msg = f"{str(source)!r} holds no non-empty documents"
        raise CLIError(msg)
    if isinstance(embedder, OfflineEmbedder):
        _info(f"fitting the offline embedder (TF-IDF + SVD) on {len(texts)} documents")
        try:
            embedder.fit(texts)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    batch = getattr(embedder, "batch_size", 512)
    try:
        vectors = embed_with_progress(embedder, texts, "embedding", batch)
    except EmbeddingError as exc:
        raise CLIError(str(exc)) from exc
    has_direction = np.any(vectors != 0, axis=1)
    nonzero = np.flatnonzero(has_direction)
    if nonzero.size < len(ids):
        dropped = np.flatnonzero(~has_direction).tolist()
        _warn_skipped(len(dropped), "with no indexed terms", [ids[i] for i in dropped])
        ids, texts, metas = _subset(nonzero.tolist(), ids, texts, metas)
        vectors = vectors[nonzero]
    if not ids:
        msg = "no document has an embedding to index"
        raise CLIError(msg)
    index = SVMIndex.from_embeddings(vectors, ids, texts=texts, metadatas=metas)
    index.embedder = embedder
    extra = {"cli": {"source": str(source), "embedder": args.embedder}}
    try:
        index.save(out, extra=extra)
    except FileExistsError as exc:  # check_save_target's own message names the folder
        raise CLIError(str(exc)) from exc
    except (OSError, TypeError, ValueError) as exc:  # TypeError: NaN metadata, lone surrogates
        msg = f"cannot save the index to {str(out)!r}: {exc}"
        raise CLIError(msg) from exc
    print(
        f"indexed {len(index)} documents ({index.dim} dims, {_embedder_name(embedder)}) into {out}"
    )
    return 0


def _subset(rows: Sequence[int], *lists: list[Any]) -> tuple[list[Any], ...]:
    return tuple([values[i] for i in rows] for values in lists)


def _warn_skipped(n: int, why: str, ids: list[str]) -> None:
    if n:
        shown = ", ".join(ids[:5]) + (", ..." if n > 5 else "")
        _info(f"warning: skipped {n} document(s) {why}: {shown}")


def _info(message: str) -> None:
    # Ids and paths can hold what the terminal cannot show (a lone surrogate from a JSON
    # escape, say): escape it rather than fail while reporting.
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    shown = message.encode(encoding, "backslashreplace").decode(encoding)
    print(shown, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- query
def load_index(path: Path) -> SVMIndex:
    """Load an index written by ``index``, turning every failure into a clear :class:`CLIError`."""
    if not path.exists():
        msg = f"no index at {str(path)!r} (build one with `{PROG} index SOURCE {path}`)"
        raise CLIError(msg)
    try:
        return SVMIndex.load(path)
    except (OSError, ValueError) as exc:
        msg = f"cannot load the index at {str(path)!r}: {exc}"
        raise CLIError(msg) from exc


def embed_query_for(index: SVMIndex, path: Path, text: str, args: argparse.Namespace) -> np.ndarray:
    """Embed ``text`` with the index's own embedder after checking it matches the options."""
    embedder = index.embedder
    if embedder is None:
        msg = (
            f"the index at {str(path)!r} has no saved embedder (it was built from precomputed "
            "vectors); query it from Python with SVMIndex.search(vector)"
        )
        raise CLIError(msg)
    config, _ = embedder.to_state()
    if args.embedder and KIND_OF[args.embedder] != config["kind"]:
        msg = (
            f"the index at {str(path)!r} was built with the {config['kind']!r} embedder, not "
            f"{args.embedder!r}; its queries must use the same embedder (drop --embedder)"
        )
        raise CLIError(msg)
    if args.model and config.get("model") != args.model:
        built = (
            f"model {config['model']!r}"
            if config.get("model")
            else f"the {config['kind']!r} embedder"
        )
        msg = (
            f"the index at {str(path)!r} was built with {built}, not model {args.model!r}; "
            "queries must use the same model"
        )
        raise CLIError(msg)
    try:
        vector = np.asarray(embedder.embed_query(text), dtype=np.float64)
    except (EmbeddingError, ValueError) as exc:
        raise CLIError(f"cannot embed the query: {exc}") from exc
    if vector.shape != (index.dim,):
        msg = (
            f"the query embedding has dimension {vector.shape[-1]} but the index at "
            f"{str(path)!r} has dimension {index.dim}: the embedder ({_embedder_name(embedder)}) "
            "no longer matches the one the index was built with"
        )
        raise CLIError(msg)
    if not np.any(vector):
        msg = (
            "the query shares no words with the index's vocabulary; try other words"
            if isinstance(embedder, OfflineEmbedder)
            else f"the embedder ({_embedder_name(embedder)}) returned a zero vector for the query"
        )
        raise CLIError(msg)
    return vector


def rankings(
    index: SVMIndex, vector: np.ndarray, k: int, modes: Sequence[str], **params: Any
) -> dict[str, list[dict[str, Any]]]:
    """The top ``k`` of each mode from one scoring pass, as JSON-ready dicts."""
    scores = index.get_scores(vector, **params)
    out: dict[str, list[dict[str, Any]]] = {}
    for mode in modes:
        rows = []
        for rank, pos in enumerate(top_k(scores.by_mode(mode), k), start=1):
            doc_id = scores.ids[pos]
            text, metadata = index.get(doc_id)
            rows.append(
                {
                    "rank": rank,
                    "id": doc_id,
                    "score": float(scores.by_mode(mode)[pos]),
                    "knn_score": float(scores.knn[pos]),
                    "svm_score": float(scores.svm[pos]),
                    "hybrid_score": float(scores.hybrid[pos]),
                    "text": text,
                    "metadata": metadata,
                }
            )
        out[mode] = rows
    return out


def cmd_query(args: argparse.Namespace) -> int:
    path = Path(args.index)
    index = load_index(path)
    vector = embed_query_for(index, path, args.text, args)
    modes = list(DISPLAY_ORDER) if args.mode == "all" else [args.mode]
    params = {
        name: getattr(args, name) for name in ("C", "alpha") if getattr(args, name) is not None
    }
    try:
        ranked = rankings(index, vector, args.k, modes, **params)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if args.json:
        payload = {"query": args.text, "k": args.k, "mode": args.mode, "count": len(index)}
        if args.mode == "all":
            payload["rankings"] = ranked
        else:
            payload["results"] = ranked[args.mode]
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    elif args.mode == "all":
        print(f'query: "{args.text}"  ({len(index)} documents)')
        print(side_by_side(ranked))
        print()
        print(legend(ranked))
    else:
        print(f'query: "{args.text}"  mode: {args.mode}  ({len(index)} documents)')
        print(score_table(ranked[args.mode], args.mode))
    return 0


# ---------------------------------------------------------------------------------- formatting
def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _clip_id(doc_id: str, width: int) -> str:
    """Ids keep their end (``…Connection.request``, ``…/notes/today.md``): it is the telling part."""
    return doc_id if len(doc_id) <= width else "…" + doc_id[len(doc_id) - width + 1 :]


def _num(value: float, width: int, digits: int) -> str:
    """``value`` right-aligned, without a minus sign on a value that rounds to zero."""
    return f"{round(value, digits) + 0.0:>{width}.{digits}f}"


def score_table(rows: list[dict[str, Any]], mode: str, text_width: int = 50) -> str:
    """One ranking with the three scores side by side (the ranking score marked with ``*``)."""
    id_width = min(max([len(r["id"]) for r in rows] + [2]), 40)
    heads = {m: (f"*{m}" if m == mode else m) for m in ("knn", "svm", "hybrid")}
    lines = [
        f"{'#':>3}  {'id':<{id_width}}  {heads['knn']:>8}  {heads['svm']:>8}  "
        f"{heads['hybrid']:>8}  text"
    ]
    for r in rows:
        lines.append(
            f"{r['rank']:>3}  {_clip_id(r['id'], id_width):<{id_width}}  {_num(r['knn_score'], 8, 4)}  "
            f"{_num(r['svm_score'], 8, 4)}  {_num(r['hybrid_score'], 8, 4)}  "
            f"{_clip(r['text'] or '', text_width)}"
        )
    return "\n".join(lines)


def side_by_side(ranked: dict[str, list[dict[str, Any]]], width: int = 40) -> str:
    """The rankings of several modes in columns, each hit with its own mode's score.

    A ``+`` marks a document that is not in the kNN column.
    """
    modes = list(ranked)
    knn_ids = {r["id"] for r in ranked.get("knn", [])}
    lines = [("    " + "".join(f"{SCORE_NAMES[m]:<{width}}" for m in modes)).rstrip()]
    depth = max(len(rows) for rows in ranked.values())
    for i in range(depth):
        cells = []
        for mode in modes:
            rows = ranked[mode]
            if i >= len(rows):
                cells.append(" " * width)
                continue
            r = rows[i]
            mark = "+" if mode != "knn" and knn_ids and r["id"] not in knn_ids else " "
            cell = f"{_num(r['score'], 8, 3)} {mark}{_clip_id(r['id'], width - 12)}"
            cells.append(f"{cell:<{width}}")
        lines.append(f"{i + 1:>3} " + "".join(cells).rstrip())
    return "\n".join(lines)


def legend(ranked: dict[str, list[dict[str, Any]]], text_width: int = 90) -> str:
    """Each document of the side-by-side rankings once, with the start of its text."""
    seen: dict[str, str] = {}
    for rows in ranked.values():
        for r in rows:
            seen.setdefault(r["id"], r["text"] or "")
    id_width = min(max(len(i) for i in seen), 30)
    return "\n".join(
        f"  {_clip_id(doc_id, id_width):<{id_width}}  {_clip(text, text_width)}"
        for doc_id, text in seen.items()
    )


# ---------------------------------------------------------------------------------- demo
DEMO_MODULES = (
    "abc argparse array asyncio base64 bisect builtins bz2 calendar cmath codecs collections "
    "collections.abc concurrent.futures configparser contextlib copy csv dataclasses datetime "
    "decimal difflib enum fnmatch fractions functools gc glob gzip hashlib heapq hmac html "
    "html.parser http.client http.server io ipaddress itertools json keyword logging lzma math "
    "mimetypes operator os os.path pathlib platform pprint queue random re sched secrets shlex "
    "shutil signal socket sqlite3 statistics string struct subprocess tarfile tempfile textwrap "
    "threading time timeit tomllib traceback types typing unicodedata unittest urllib.parse "
    "urllib.request uuid warnings weakref xml.etree.ElementTree zipfile zlib email.message "
    "inspect"
).split()
"""Standard-library modules whose docstrings the demo indexes: importing them has no side effects."""

DEMO_QUESTIONS = (
    "serialize an object to JSON",
    "compute the median of a list of numbers",
    "round a number to two decimal places",
    "check if a file exists",
    "generate a secure random token",
)


def stdlib_corpus(
    modules: Sequence[str] = DEMO_MODULES,
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """``(ids, texts, metadatas)``: ``pydoc_data.topics`` and docstrings of ``modules``.

    Documents are the language reference topics, each module's docstring, and the docstrings
    of its public classes, functions and methods (ids like ``"json.dumps"``).
    """
    docs: dict[str, tuple[str, dict[str, Any]]] = {}
    try:
        topics: dict[str, str] = dict(importlib.import_module("pydoc_data.topics").topics)
    except ImportError:  # some distributions strip pydoc_data
        topics = {}
    for name, text in sorted(topics.items()):
        docs[f"topic:{name}"] = (text, {"source": "pydoc_data.topics", "topic": name})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation warnings of old modules
        for module_name in modules:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            _module_docs(module_name, module, docs)
    ids = list(docs)
    return ids, [docs[i][0] for i in ids], [docs[i][1] for i in ids]


_EXTRA_HOMES = {"os": ("posix", "nt"), "os.path": ("genericpath",)}


def _module_docs(name: str, module: Any, docs: dict[str, tuple[str, dict[str, Any]]]) -> None:
    meta = {"source": "docstring", "module": name}
    if module.__doc__:
        docs[name] = (f"{name}\n{inspect.cleandoc(module.__doc__)}", meta)
    public = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    short = name.rsplit(".", 1)[-1]
    # where this module's own objects say they come from: itself (os.path is posixpath or
    # ntpath), its C accelerator (_json, _heapq, ...), and for os the posix/nt built-ins
    homes = {name, module.__name__, f"_{short}", *_EXTRA_HOMES.get(name, ())}
    for attr in public:
        obj = getattr(module, attr, None)
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        if name != "builtins" and getattr(obj, "__module__", None) not in homes:
            continue  # re-exported from elsewhere
        qualified = attr if name == "builtins" else f"{name}.{attr}"
        _add_doc(docs, qualified, obj, meta)
        if inspect.isclass(obj):
            for member, value in vars(obj).items():
                if member.startswith("_"):
                    continue
                if inspect.isroutine(value) or isinstance(value, (property, classmethod)):
                    _add_doc(docs, f"{qualified}.{member}", getattr(obj, member, None), meta)


def _add_doc(
    docs: dict[str, tuple[str, dict[str, Any]]], qualified: str, obj: Any, meta: dict[str, Any]
) -> None:
    try:
        doc = inspect.getdoc(obj)
    except Exception:  # odd descriptors
        return
    if doc and len(doc) >= 12:
        docs[qualified] = (f"{qualified}\n{doc}", meta)


def cmd_demo(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    ids, texts, metas = stdlib_corpus()
    t1 = time.perf_counter()
    embedder = OfflineEmbedder(dim=args.dim)
    embedder.fit(texts)
    vectors = embedder.embed(texts)
    keep = np.flatnonzero(np.any(vectors != 0, axis=1)).tolist()
    ids, texts, metas = _subset(keep, ids, texts, metas)
    index = SVMIndex.from_embeddings(vectors[keep], ids, texts=texts, metadatas=metas)
    index.embedder = embedder
    t2 = time.perf_counter()
    questions = args.questions or list(DEMO_QUESTIONS)
    results = []
    for question in questions:
        vector = np.asarray(embedder.embed_query(question))
        if not np.any(vector):
            results.append({"query": question, "rankings": None})
            continue
        ranked = rankings(index, vector, args.k, DISPLAY_ORDER)
        results.append({"query": question, "rankings": ranked})
    t3 = time.perf_counter()
    timing = {
        "corpus_seconds": t1 - t0,
        "index_seconds": t2 - t1,
        "query_seconds": (t3 - t2) / max(len(questions), 1),
    }
    if args.json:
        payload = {
            "documents": len(index),
            "dim": index.dim,
            "timing": timing,
            "questions": results,
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    print(
        f"Indexed {len(index)} documents of the Python {sys.version_info.major}."
        f"{sys.version_info.minor} standard library documentation (pydoc topics and "
        f"docstrings)\nwith the offline TF-IDF + SVD embedder ({index.dim} dims) in "
        f"{timing['corpus_seconds'] + timing['index_seconds']:.1f} s; no network, no model.\n"
    )
    print(
        "Each question is ranked three ways over every document: kNN = cosine similarity,\n"
        "SVM = decision value of an exemplar SVM trained with the query as the only positive\n"
        "and every document as a negative, hybrid = mean of the two z-scores.\n"
        "'+' marks a document that kNN's top list does not have.\n"
    )
    for item in results:
        print(f'Q: "{item["query"]}"')
        if item["rankings"] is None:
            print("   (no word of this question is in the corpus vocabulary)\n")
            continue
        print(side_by_side(item["rankings"]))
        print()
    print(
        f"({timing['query_seconds'] * 1000:.0f} ms per question for all three rankings.)\n"
        f"Your own documents: {PROG} index ./my_docs my-index && "
        f'{PROG} query my-index "a question" --mode all'
    )
    return 0


# ---------------------------------------------------------------------------------- eval
def cmd_eval(args: argparse.Namespace) -> int:
    dataset = Path(args.dataset)
    for required in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        if not (dataset / required).is_file():
            msg = (
                f"{str(dataset)!r} is not a BEIR dataset: {required} is missing "
                "(expected corpus.jsonl, queries.jsonl and qrels/test.tsv)"
            )
            raise CLIError(msg)
    embeddings = None
    embedder = None
    if args.embeddings:
        embeddings = Path(args.embeddings)
        for required in ("corpus.npy", "queries.npy"):
            if not (embeddings / required).is_file():
                msg = f"embeddings folder {str(embeddings)!r} lacks {required}"
                raise CLIError(msg)
    else:
        embedder = OfflineEmbedder(dim=args.dim or 256)
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        msg = f"--modes must be a comma-separated subset of {','.join(MODES)}, got {args.modes!r}"
        raise CLIError(msg)
    params = {
        name: getattr(args, name) for name in ("C", "alpha") if getattr(args, name) is not None
    }
    out = Path(args.json) if args.json else None
    if out is not None and (out.is_dir() or not out.parent.is_dir()):
        problem = "is a directory" if out.is_dir() else "has no such parent directory"
        msg = f"cannot write --json {str(out)!r}: it {problem}"
        raise CLIError(msg)  # before the evaluation, which may take minutes
    from .evaluation import evaluate, format_table

    try:
        result = evaluate(
            dataset, embeddings=embeddings, modes=modes, params=params or None, embedder=embedder
        )
    except (OSError, ValueError) as exc:
        msg = f"cannot evaluate {str(dataset)!r}: {exc}"
        raise CLIError(msg) from exc
    print(format_table(result))
    if out is not None:
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        try:  # written whole or not at all
            tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, out)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            msg = f"cannot write {str(out)!r}: {exc}"
            raise CLIError(msg) from exc
        _info(f"wrote {out}")
    return 0


# ---------------------------------------------------------------------------------- parser
def _int_at_least(least: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _scoring_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--C", type=_positive_float, help="SVM regularization (default 0.1)")
    parser.add_argument(
        "--alpha", type=float, help="weight of kNN in the hybrid score (default 0.5)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``svm-retrievers``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Rank documents with an exemplar SVM, kNN and a hybrid; keep every score.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="embed a folder of .txt/.md files or a .jsonl file")
    p.add_argument("source", help="a folder of .txt/.md files, or a .jsonl file")
    p.add_argument("out", help="the index directory to write")
    p.add_argument("--embedder", choices=EMBEDDERS, default="offline")
    p.add_argument("--model", help="embedding model (openai; default text-embedding-3-small)")
    p.add_argument("--dim", type=_positive_int, help="dimension (offline: 256; openai: native)")
    p.add_argument("--base-url", help="OpenAI-compatible API root (default OPENAI_BASE_URL)")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="texts per request")
    p.add_argument(
        "--max-retries",
        type=_non_negative_int,
        default=2,
        help="retries on 429/5xx/connection errors",
    )
    p.add_argument("--text-field", default="text", help="JSONL field with the text")
    p.add_argument("--id-field", default="id", help="JSONL field with the id (default: line no.)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("query", help="search an index; show the three scores")
    p.add_argument("index", help="an index directory written by `index`")
    p.add_argument("text", help="the query text")
    p.add_argument("-k", type=_positive_int, default=5, help="number of results (default 5)")
    p.add_argument("--mode", choices=[*MODES, "all"], default=DEFAULT_MODE)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--embedder", choices=EMBEDDERS, help="fail unless the index uses this one")
    p.add_argument("--model", help="fail unless the index uses this model")
    _scoring_options(p)
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("demo", help="offline demo on the standard library's documentation")
    p.add_argument("questions", nargs="*", help="your own questions (default: a few examples)")
    p.add_argument("-k", type=_positive_int, default=5, help="results per ranking (default 5)")
    p.add_argument("--dim", type=_positive_int, default=384, help="embedding dimension")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("eval", help="nDCG@10, Recall@100, MRR@10 on a BEIR-format dataset")
    p.add_argument("dataset", help="folder with corpus.jsonl, queries.jsonl, qrels/test.tsv")
    p.add_argument("--embeddings", help="folder with corpus.npy and queries.npy (else offline)")
    p.add_argument("--modes", default=",".join(DISPLAY_ORDER), help="comma-separated modes")
    p.add_argument("--dim", type=_positive_int, help="offline embedder dimension (default 256)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    _scoring_options(p)
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CLIError as exc:
        _info(f"{PROG}: error: {exc}")
        return exc.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``svm-retrievers`` command line: every command through ``python -m svm_retrievers``.

Each command runs at least once as a real subprocess; the many error cases call ``main(argv)``
in-process (same code, without paying the interpreter start-up each time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import svm_retrievers
from svm_retrievers import SVMIndex
from svm_retrievers.cli import DEMO_MODULES, main, read_source, stdlib_corpus
from svm_retrievers.embeddings import OfflineEmbedder
from tests.openai_server import OpenAICompatibleServer

ROOT = Path(__file__).resolve().parents[1]

DOCS = {
    "cats.txt": "Cats purr and sleep on warm mats. A kitten is a young cat.",
    "dogs.md": "# Dogs\nDogs bark at the mailman. A puppy is a young dog.",
    "money/markets.txt": "Stock markets fell as interest rates rose; investors sold shares.",
    "money/banks.md": "The central bank raised interest rates to fight inflation.",
    "code/python.txt": "Python lists are mutable sequences; tuples are immutable sequences.",
    "code/dicts.md": "A Python dictionary maps hashable keys to values.",
}


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """``python -m svm_retrievers ARGS`` in a fresh interpreter, the repo on PYTHONPATH."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "svm_retrievers", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    for name, text in DOCS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / "ignored.rst").write_text("not indexed", encoding="utf-8")
    return root


@pytest.fixture
def jsonl_file(tmp_path: Path) -> Path:
    path = tmp_path / "docs.jsonl"
    rows = [
        {"doc": "Cats purr and sleep on warm mats.", "key": "c1", "metadata": {"animal": True}},
        {"doc": "Dogs bark at the mailman.", "key": 2, "lang": "en"},
        {"doc": "Interest rates rose and markets fell.", "key": "m1"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    return path


@pytest.fixture
def offline_index(tmp_path: Path, docs_dir: Path) -> Path:
    out = tmp_path / "index"
    assert main(["index", str(docs_dir), str(out), "--dim", "4"]) == 0
    return out


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as srv:
        yield srv


def errors_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run ``main(argv)``, require exit status 1, return stderr."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("svm-retrievers: error: "), err
    return err


# ------------------------------------------------------------------------------ subprocesses
def test_demo_runs_offline_and_shows_three_rankings() -> None:
    proc = run_cli("demo")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "no network, no model" in out
    assert "Zen of Python" not in out  # no side-effect modules imported
    count = int(out.split("Indexed ", 1)[1].split(" documents", 1)[0])
    assert count > 1000  # pydoc topics plus docstrings
    blocks = out.split('Q: "')[1:]
    assert len(blocks) == 5
    for block in blocks:
        header = block.splitlines()[1]
        assert (
            header.index("kNN (cosine)")
            < header.index("SVM (decision value)")
            < header.index("hybrid")
        )
        ranks = [line.split()[0] for line in block.splitlines()[2:7]]
        assert ranks == ["1", "2", "3", "4", "5"]
    json_block = next(b for b in blocks if b.startswith("serialize an object to JSON"))
    svm_top = [line[44:].split()[1].lstrip("+") for line in json_block.splitlines()[2:5]]
    assert any(name.startswith("json.") for name in svm_top), json_block
    assert "ms per question" in out


def test_index_and_query_round_trip_through_disk(tmp_path: Path, docs_dir: Path) -> None:
    out = tmp_path / "idx"
    proc = run_cli("index", str(docs_dir), str(out), "--dim", "4")
    assert proc.returncode == 0, proc.stderr
    assert f"indexed 6 documents (4 dims, offline-tfidf-svd) into {out}" in proc.stdout
    assert "embedding: 6/6 done" in proc.stderr  # the progress report
    assert (out / "manifest.json").is_file()

    proc = run_cli("query", str(out), "young kitten cat", "-k", "6", "--mode", "svm", "--json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    results = payload["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5, 6]
    assert results[0]["id"] == "cats.txt"
    assert results[0]["metadata"] == {"source": str(docs_dir / "cats.txt")}
    assert results[0]["text"] == DOCS["cats.txt"]
    svm = [r["svm_score"] for r in results]
    assert svm == sorted(svm, reverse=True)
    assert all(
        isinstance(r[k], float) for r in results for k in ("knn_score", "svm_score", "hybrid_score")
    )

    # The same index built in memory gives the same scores: the embedder came back from disk.
    ids, texts, metas = read_source(docs_dir)
    embedder = OfflineEmbedder(dim=4).fit(texts)
    memory = SVMIndex.from_embeddings(embedder.embed(texts), ids, texts=texts, metadatas=metas)
    scores = memory.get_scores(embedder.embed_query("young kitten cat"))
    expected = dict(zip(scores.ids, scores.svm.tolist(), strict=True))
    for r in results:
        assert r["svm_score"] == pytest.approx(expected[r["id"]], abs=1e-6)

    loaded = SVMIndex.load(out)
    assert isinstance(loaded.embedder, OfflineEmbedder)
    np.testing.assert_array_equal(loaded.embedder.embed(texts), embedder.embed(texts))


@pytest.mark.network
def test_openai_index_and_query_against_local_server(
    tmp_path: Path,
    docs_dir: Path,
    server: OpenAICompatibleServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": server.api_key}
    out = tmp_path / "idx"
    proc = run_cli("index", str(docs_dir), str(out), "--embedder", "openai", "--dim", "16", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "(16 dims, openai (text-embedding-3-small))" in proc.stdout
    assert server.requests[0]["dimensions"] == 16
    assert server.requests[0]["encoding_format"] == "base64"  # the client's default
    assert "test-key" not in (out / "manifest.json").read_text()

    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
    assert main(["query", str(out), "young cat", "--mode", "all", "-k", "2"]) == 0
    text = capsys.readouterr().out
    assert "kNN (cosine)" in text and "SVM (decision value)" in text
    assert server.requests[-1]["input"] == ["young cat"]
    assert server.requests[-1]["dimensions"] == 16  # the saved embedder kept its settings
    assert main(["query", str(out), "young cat", "--model", "text-embedding-3-small"]) == 0
    capsys.readouterr()
    err = errors_of(capsys, ["query", str(out), "cat", "--model", "text-embedding-3-large"])
    assert "built with model 'text-embedding-3-small', not model 'text-embedding-3-large'" in err
    err = errors_of(capsys, ["query", str(out), "cat", "--embedder", "offline"])
    assert "built with the 'openai' embedder, not 'offline'" in err

    err = errors_of(capsys, ["query", str(out), ""])  # the API refuses empty strings
    assert "cannot embed the query" in err and "empty" in err

    monkeypatch.delenv("OPENAI_API_KEY")
    err = errors_of(capsys, ["query", str(out), "young cat"])
    assert "no API key" in err and "OPENAI_API_KEY" in err


def write_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    corpus = [
        ("d1", "Cats purr", "Cats purr and sleep on warm mats."),
        ("d2", "Kittens", "A kitten is a young cat that likes to play."),
        ("d3", "Dogs", "Dogs bark at the mailman."),
        ("d4", "Puppies", "A puppy is a young dog that chews shoes."),
        ("d5", "Markets", "Stock markets fell as interest rates rose."),
        ("d6", "Banks", "The central bank raised interest rates."),
        ("d7", "Lists", "Python lists are mutable sequences."),
        ("d8", "Dicts", "A Python dictionary maps keys to values."),
    ]
    queries = [
        ("q1", "young cat kitten"),
        ("q2", "interest rates bank"),
        ("q3", "python dictionary keys"),
    ]
    qrels = [("q1", "d2", 1), ("q1", "d1", 1), ("q2", "d6", 2), ("q2", "d5", 1), ("q3", "d8", 1)]
    with (root / "corpus.jsonl").open("w") as f:
        for i, title, text in corpus:
            f.write(json.dumps({"_id": i, "title": title, "text": text}) + "\n")
    with (root / "queries.jsonl").open("w") as f:
        for i, text in queries:
            f.write(json.dumps({"_id": i, "text": text}) + "\n")
    with (root / "qrels" / "test.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q, d, g in qrels:
            f.write(f"{q}\t{d}\t{g}\n")
    return root


def test_eval_with_offline_embedder_writes_table_and_json(tmp_path: Path) -> None:
    dataset = write_beir(tmp_path / "tiny")
    out = tmp_path / "result.json"
    proc = run_cli("eval", str(dataset), "--modes", "knn,svm", "--dim", "4", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "nDCG@10" in proc.stdout and "| tiny |" in proc.stdout
    result = json.loads(out.read_text())
    assert set(result["modes"]) == {"knn", "svm"}
    assert result["n_queries"] == 3 and result["n_docs"] == 8
    for metrics in result["modes"].values():
        assert 0.0 <= metrics["ndcg@10"] <= 1.0
        assert metrics["recall@100"] == 1.0  # every relevant document is among the 8


def test_eval_refuses_an_unwritable_json_path_before_evaluating(tmp_path: Path) -> None:
    dataset = write_beir(tmp_path / "tiny")
    for out, problem in (
        (tmp_path / "no-such-dir" / "r.json", "has no such parent directory"),
        (tmp_path, "is a directory"),
    ):
        proc = run_cli("eval", str(dataset), "--dim", "4", "--json", str(out))
        assert proc.returncode != 0
        assert problem in proc.stderr and "Traceback" not in proc.stderr
        assert "nDCG@10" not in proc.stdout  # refused before evaluating
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]  # nothing half-written


def test_malformed_jsonl_exits_non_zero_with_line_number(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": "broken\n', encoding="utf-8")
    proc = run_cli("index", str(bad), str(tmp_path / "out"))
    assert proc.returncode == 1
    assert f"svm-retrievers: error: {bad}:2: malformed JSON" in proc.stderr
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ in-process
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "COMMAND"),
        (["query", "idx", "text", "-k", "0"], "expected a positive integer, got '0'"),
        (["query", "idx", "text", "--mode", "best"], "invalid choice: 'best'"),
        (["index", "src", "out", "--embedder", "bert"], "invalid choice: 'bert'"),
        (["query", "idx", "text", "--C", "-1"], "expected a positive number"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_jsonl_fields_ids_and_metadata(
    tmp_path: Path, jsonl_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "idx"
    argv = ["index", str(jsonl_file), str(out), "--text-field", "doc", "--id-field", "key"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["query", str(out), "cats purr", "-k", "10", "--json", "--mode", "knn"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert len(results) == 3  # k larger than the index returns everything
    by_id = {r["id"]: r for r in results}
    assert set(by_id) == {"c1", "2", "m1"}
    assert by_id["c1"]["metadata"] == {"animal": True}
    assert by_id["2"]["metadata"] == {"lang": "en"}
    assert results[0]["id"] == "c1"
    assert [r["knn_score"] for r in results] == sorted(
        (r["knn_score"] for r in results), reverse=True
    )


def test_jsonl_default_ids_are_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a cat"}\n\n{"text": "a dog"}\n', encoding="utf-8")
    ids, texts, metas = read_source(path)
    assert ids == ["1", "3"] and texts == ["a cat", "a dog"] and metas == [{}, {}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok"}\nnot json\n', ":2: malformed JSON"),
        ('{"text": "ok"}\n[1, 2]\n', ":2: expected a JSON object, got list"),
        (
            '{"text": "ok"}\n{"body": "x"}\n',
            "the text field 'text' must be a string, it is missing",
        ),
        ('{"text": 5}\n', ":1: the text field 'text' must be a string, it is a int"),
        (
            '{"text": "a", "id": "x"}\n{"text": "b", "id": "x"}\n',
            ":2: duplicate id 'x' (first on line 1)",
        ),
        ('{"text": "a", "metadata": [1]}\n', ":1: 'metadata' must be a JSON object"),
        ('{"text": "a", "id": [1]}\n', ":1: the id field 'id' must be a string or an integer"),
        ("\n\n", "holds no documents"),
    ],
)
def test_malformed_jsonl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(content, encoding="utf-8")
    assert message in errors_of(capsys, ["index", str(path), str(tmp_path / "out")])


def test_bad_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "out")
    assert "does not exist" in errors_of(capsys, ["index", str(tmp_path / "missing"), out])
    other = tmp_path / "data.csv"
    other.write_text("a,b\n")
    assert "folder of .txt/.md files or a .jsonl file" in errors_of(
        capsys, ["index", str(other), out]
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.rst").write_text("x")
    assert "holds no .txt or .md files" in errors_of(capsys, ["index", str(empty), out])
    blank = tmp_path / "blank"
    blank.mkdir()
    (blank / "a.txt").write_text("   \n")
    assert "no non-empty documents" in errors_of(capsys, ["index", str(blank), out])
    assert "is not a directory" in errors_of(capsys, ["index", str(blank), str(other)])


def test_index_refuses_a_folder_that_is_not_an_index(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    err = errors_of(capsys, ["index", str(docs_dir), str(target)])
    assert err.count("cannot save the index") == 1 and "not an index" in err
    assert "fitting" not in err and "embedding" not in err  # refused before any embedding
    assert (target / "precious.txt").read_text() == "keep me"


def test_index_overwrites_a_previous_index(
    tmp_path: Path, docs_dir: Path, offline_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (docs_dir / "cats.txt").unlink()
    assert main(["index", str(docs_dir), str(offline_index), "--dim", "3"]) == 0
    loaded = SVMIndex.load(offline_index)
    assert len(loaded) == len(DOCS) - 1 and "cats.txt" not in loaded and loaded.dim == 3


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"svm-retrievers {svm_retrievers.__version__}"


def test_empty_and_stop_word_documents_are_skipped_with_a_warning(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (docs_dir / "empty.txt").write_text("")
    (docs_dir / "stop.txt").write_text("the and of it")
    out = tmp_path / "idx"
    assert main(["index", str(docs_dir), str(out), "--dim", "4"]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 document(s) empty: empty.txt" in err
    assert "skipped 1 document(s) with no indexed terms: stop.txt" in err
    assert len(SVMIndex.load(out)) == len(DOCS)


def test_an_id_the_terminal_cannot_show_is_escaped_in_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "\\udc80" in JSON is a lone surrogate: valid JSON, not encodable as UTF-8.
    source = tmp_path / "docs.jsonl"
    source.write_text('{"text": "", "id": "\\udc80"}\n{"text": "python code", "id": "a"}\n')
    assert main(["index", str(source), str(tmp_path / "idx"), "--dim", "2"]) == 0
    assert "skipped 1 document(s) empty: \\udc80" in capsys.readouterr().err
    source.write_text('{"text": "python code", "id": "\\udc80"}\n{"text": "more code"}\n')
    assert main(["index", str(source), str(tmp_path / "idx2"), "--dim", "2"]) == 1
    err = capsys.readouterr().err
    assert "svm-retrievers: error:" in err and "Traceback" not in err


def test_query_modes_text_output(offline_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", str(offline_index), "interest rates", "-k", "2", "--mode", "hybrid"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "mode: hybrid" in out[0]
    assert out[1].split() == ["#", "id", "knn", "svm", "*hybrid", "text"]
    assert len(out) == 4 and out[2].split()[1].startswith("money/")
    assert main(["query", str(offline_index), "interest rates", "-k", "3", "--mode", "all"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "kNN (cosine)" in out[1] and "hybrid (z-score mean)" in out[1]
    assert [line.split()[0] for line in out[2:5]] == ["1", "2", "3"]
    assert out[5] == ""
    legend = {line.split()[0]: line for line in out[6:]}  # each ranked document once, with its text
    assert "money/markets.txt" in legend
    assert "Stock markets fell" in legend["money/markets.txt"]


def test_query_all_json_has_three_rankings(
    offline_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["query", str(offline_index), "python tuples", "--mode", "all", "--json", "--C", "1"])
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert list(payload["rankings"]) == ["knn", "svm", "hybrid"]
    for mode, rows in payload["rankings"].items():
        scores = [r[f"{mode}_score"] for r in rows]
        assert scores == sorted(scores, reverse=True)
        assert all(r["score"] == r[f"{mode}_score"] for r in rows)


def test_query_errors(
    tmp_path: Path, offline_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idx = str(offline_index)
    assert "no index at" in errors_of(capsys, ["query", str(tmp_path / "none"), "x"])
    assert "shares no words" in errors_of(capsys, ["query", idx, "zzzz qqqq"])
    err = errors_of(capsys, ["query", idx, "cats", "--embedder", "openai"])
    assert "built with the 'offline-tfidf-svd' embedder, not 'openai'" in err
    err = errors_of(capsys, ["query", idx, "cats", "--model", "gpt"])
    assert "built with the 'offline-tfidf-svd' embedder, not model 'gpt'" in err


def test_alpha_zero_is_used_not_dropped(
    offline_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def hybrid(*extra: str) -> list[float]:
        args = ["query", str(offline_index), "python tuples", "--mode", "hybrid", "--json"]
        assert main([*args, "-k", "8", *extra]) == 0
        return [r["hybrid_score"] for r in json.loads(capsys.readouterr().out)["results"]]

    default, zero = hybrid(), hybrid("--alpha", "0")
    assert zero != default and zero == hybrid("--alpha", "0.0")


def test_negative_max_retries_is_a_usage_error(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["index", str(docs_dir), str(tmp_path / "i"), "--embedder", "openai"]
    with pytest.raises(SystemExit) as info:
        main([*args, "--max-retries", "-1"])
    assert info.value.code == 2
    assert "--max-retries: expected an integer >= 0, got '-1'" in capsys.readouterr().err


def test_query_index_without_embedder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vectors-only"
    SVMIndex.from_embeddings(np.eye(3), ["a", "b", "c"]).save(path)
    assert "has no saved embedder" in errors_of(capsys, ["query", str(path), "x"])


def test_query_dimension_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = ["cats purr", "dogs bark", "cats and dogs"]
    index = SVMIndex.from_embeddings(np.eye(5)[:3] + 0.1, ["a", "b", "c"], texts=texts)
    index.embedder = OfflineEmbedder(dim=2).fit(texts)  # 2-dim queries, 5-dim index
    index.save(tmp_path / "idx")
    err = errors_of(capsys, ["query", str(tmp_path / "idx"), "cats"])
    assert "query embedding has dimension 2 but the index" in err and "dimension 5" in err


def test_query_corrupted_index(offline_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = next(offline_index.glob("vectors-*.npy"))
    vectors.write_bytes(vectors.read_bytes()[:-8])
    assert "cannot load the index" in errors_of(capsys, ["query", str(offline_index), "cats"])


def test_openai_missing_key_fails_before_reading(
    tmp_path: Path,
    docs_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    err = errors_of(capsys, ["index", str(docs_dir), str(tmp_path / "o"), "--embedder", "openai"])
    assert "no API key" in err and "OPENAI_API_KEY" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.network
@pytest.mark.parametrize("status", [401, 429, 500])
def test_openai_server_errors_exit_non_zero(
    tmp_path: Path,
    docs_dir: Path,
    server: OpenAICompatibleServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
    server.fail_status = status
    argv = ["index", str(docs_dir), str(tmp_path / "o"), "--embedder", "openai"]
    argv += ["--base-url", server.base_url, "--max-retries", "0"]
    assert f"HTTP {status}" in errors_of(capsys, argv)
    assert not (tmp_path / "o").exists()


@pytest.mark.network
def test_openai_wrong_vector_count_exits_non_zero(
    tmp_path: Path,
    docs_dir: Path,
    server: OpenAICompatibleServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
    server.drop_vectors = 1
    argv = [
        "index",
        str(docs_dir),
        str(tmp_path / "o"),
        "--embedder",
        "openai",
        "--base-url",
        server.base_url,
    ]
    assert "returned 5 vectors for 6 input texts" in errors_of(capsys, argv)


def test_eval_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "corpus.jsonl is missing" in errors_of(capsys, ["eval", str(tmp_path)])
    dataset = write_beir(tmp_path / "tiny")
    err = errors_of(capsys, ["eval", str(dataset), "--modes", "knn,bogus"])
    assert "--modes must be a comma-separated subset of svm,knn,hybrid" in err
    emb = tmp_path / "emb"
    emb.mkdir()
    np.save(emb / "corpus.npy", np.eye(8, dtype=np.float32))
    assert "lacks queries.npy" in errors_of(
        capsys, ["eval", str(dataset), "--embeddings", str(emb)]
    )


def test_eval_with_precomputed_embeddings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = write_beir(tmp_path / "tiny")
    emb = tmp_path / "emb"
    emb.mkdir()
    corpus = np.eye(8, dtype=np.float32) + 0.05
    queries = corpus[[1, 5, 7]] + 0.01  # each query nearest its first relevant document
    np.save(emb / "corpus.npy", corpus)
    np.save(emb / "queries.npy", queries)
    assert main(["eval", str(dataset), "--embeddings", str(emb), "--modes", "knn"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "| knn |" in line)
    assert row.split("|")[4].strip() != ""  # nDCG@10 column
    assert "| emb |" in row


def test_demo_in_process_json_with_own_question(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json", "-k", "3", "decode JSON from a string", "qqqzzz"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["documents"] > 1000 and payload["dim"] == 384
    first, unknown = payload["questions"]
    assert unknown["rankings"] is None  # no word of it is known: said, not ranked
    assert list(first["rankings"]) == ["knn", "svm", "hybrid"]
    assert all(len(rows) == 3 for rows in first["rankings"].values())
    for mode, rows in first["rankings"].items():
        assert any(r["id"].startswith("json.") for r in rows), (mode, rows)
        assert all(r["score"] == r[f"{mode}_score"] for r in rows)


def test_stdlib_corpus_is_safe_and_deterministic() -> None:
    unsafe = {"this", "antigravity", "tkinter", "turtle", "webbrowser", "idlelib", "pydoc"}
    assert not unsafe & set(DEMO_MODULES)
    ids, texts, metas = stdlib_corpus(("json", "no_such_module_xyz"))
    assert "json" in ids and "json.dumps" in ids and "topic:yield" in ids
    assert texts[ids.index("json.dumps")].startswith("json.dumps\nSerialize")
    assert metas[ids.index("json.dumps")] == {"source": "docstring", "module": "json"}
    assert stdlib_corpus(("json",))[0] == ids


def test_progress_bar_on_a_terminal_and_off_it() -> None:
    import io

    from svm_retrievers.cli import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Terminal()
    bar = Progress("embedding", 4, stream=tty)
    bar.update(2)
    assert tty.getvalue() == "\rembedding [###############---------------] 2/4"
    bar.update(2)
    bar.close()
    assert "\rembedding [" + "#" * 30 + "] 4/4" in tty.getvalue()
    assert "\rembedding: 4/4 done in " in tty.getvalue() and tty.getvalue().endswith("\n")

    pipe = io.StringIO()
    bar = Progress("embedding", 3, stream=pipe)
    bar.update(3)
    bar.close()
    assert (
        pipe.getvalue().startswith("embedding: 3/3 done in ") and pipe.getvalue().count("\n") == 1
    )

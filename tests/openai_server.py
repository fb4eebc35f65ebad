"""A small, real OpenAI-compatible embeddings server for tests (``http.server`` on 127.0.0.1).

``POST /v1/embeddings`` answers like OpenAI: ``encoding_format`` "float" or "base64" (the
``openai`` client asks for base64 by default), ``dimensions``, usage, and deterministic unit
vectors derived from each text (a hashed bag of words, so texts sharing words are similar).
Set ``server.fail_status`` to answer every request with that HTTP error, or
``server.drop_vectors`` to return fewer vectors than inputs, ``server.html`` to answer 200
with a web page (a base URL that is not an API root), ``server.omit_index`` to leave the
``index`` field out of each item. Every request body is kept in ``server.requests``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

NATIVE_DIM = 64
ERRORS = {
    401: ("invalid_api_key", "Incorrect API key provided."),
    429: ("rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", "The server had an error while processing your request."),
}


def text_vector(text: str, dim: int = NATIVE_DIM) -> np.ndarray:
    """The server's deterministic unit vector for ``text`` (hashed words, signed)."""
    vec = np.zeros(dim)
    for word in re.findall(r"\w+", text.lower()) or [text]:
        digest = hashlib.sha256(word.encode()).digest()
        vec[int.from_bytes(digest[:4], "little") % dim] += 1.0 if digest[4] % 2 else -1.0
    norm = np.linalg.norm(vec)
    if norm == 0:
        vec[0] = 1.0
        norm = 1.0
    return vec / norm


class OpenAICompatibleServer:
    """Run with ``with OpenAICompatibleServer() as server: server.base_url``."""

    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.fail_status: int | None = None
        self.drop_vectors = 0
        self.html = False
        self.omit_index = False
        self.requests: list[dict[str, Any]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> OpenAICompatibleServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAICompatibleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to answering normally; forget recorded requests."""
        self.fail_status = None
        self.drop_vectors = 0
        self.html = False
        self.omit_index = False
        self.requests.clear()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, code: str, message: str) -> None:
                self._send(
                    status,
                    {"error": {"message": message, "type": code, "param": None, "code": code}},
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/embeddings":
                    self._error(404, "not_found", f"Unknown path {self.path}")
                    return
                try:
                    request = json.loads(raw)
                except json.JSONDecodeError:
                    self._error(400, "invalid_json", "Request body is not JSON.")
                    return
                server.requests.append(request)
                if server.html:
                    page = b"<html><body>Not an API</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                if server.fail_status is not None:
                    code, message = ERRORS.get(server.fail_status, ("error", "Failure."))
                    self._error(server.fail_status, code, message)
                    return
                if self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    self._error(401, *ERRORS[401])
                    return
                inputs = request.get("input")
                if isinstance(inputs, str):
                    inputs = [inputs]
                if (
                    not isinstance(inputs, list)
                    or not inputs
                    or not all(isinstance(t, str) and t for t in inputs)
                ):
                    self._error(400, "invalid_input", "input must be a non-empty string or list.")
                    return
                dim = request.get("dimensions") or NATIVE_DIM
                fmt = request.get("encoding_format", "float")
                if fmt not in ("float", "base64"):
                    self._error(400, "invalid_encoding", f"Unknown encoding_format {fmt!r}.")
                    return
                data = []
                for i, text in enumerate(inputs[: len(inputs) - server.drop_vectors]):
                    vec = text_vector(text, dim).astype("<f4")
                    embedding: Any = (
                        base64.b64encode(vec.tobytes()).decode()
                        if fmt == "base64"
                        else vec.tolist()
                    )
                    item = {"object": "embedding", "index": i, "embedding": embedding}
                    if server.omit_index:
                        del item["index"]
                    data.append(item)
                tokens = sum(len(t.split()) for t in inputs)
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": request.get("model"),
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    },
                )

        return Handler


if __name__ == "__main__":  # handy for trying the CLI by hand
    with OpenAICompatibleServer() as srv:
        print(f"OPENAI_BASE_URL={srv.base_url} OPENAI_API_KEY={srv.api_key}", flush=True)
        threading.Event().wait()

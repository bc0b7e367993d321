"""The projector's query server: read-only SQL over HTTP on 127.0.0.1, while it projects.

DuckDB allows one writer process, so the process that projects also answers queries, each on a
cursor of its own (DuckDB's MVCC gives every query a consistent snapshot).

    GET  /health                       {"status": "ok", "db": ..., "offsets": {...}}
    POST /query  {"sql": "..."}        {"columns": [...], "types": [...], "rows": [[...]]}
    POST /query  {"sql": "...", "format": "arrow"}   an Arrow IPC stream
    GET  /query?sql=...                 the same as JSON (handy from a browser or curl)
    GET  /                              the dashboard (static files of dashboard/)

Refused statements answer 400, queries past the time limit 408, both with {"error": ...}.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import duckdb
import pyarrow as pa

from esper.projections.readonly import QueryTimeout, RefusedQuery, run_query

ARROW_STREAM = "application/vnd.apache.arrow.stream"
DASHBOARD_DIR = Path(__file__).parent / "dashboard"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript",
                 ".css": "text/css"}


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def table_json(table: pa.Table) -> bytes:
    columns = table.column_names
    rows = [[row[c] for c in columns] for row in table.to_pylist()]
    return json.dumps({"columns": columns, "types": [str(t) for t in table.schema.types],
                       "rows": rows}, default=_json_value).encode()


def arrow_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


class QueryServer:
    """Serves queries on cursors of ``connection`` in a background thread."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, port: int, *,
                 timeout_s: float, status: Callable[[], dict]):
        self.connection = connection
        self.timeout_s = timeout_s
        self.status = status
        self.http = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.http.daemon_threads = True
        self.port = self.http.server_address[1]
        self._thread = threading.Thread(target=self.http.serve_forever, name="query-server",
                                        daemon=True)

    def start(self) -> QueryServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()

    def query(self, sql: str) -> pa.Table:
        cursor = self.connection.cursor()
        try:
            return run_query(cursor, sql, self.timeout_s)
        finally:
            cursor.close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # the process logs what matters itself
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/health":
                    self._send(HTTPStatus.OK, "application/json",
                               json.dumps({"status": "ok", **server.status()}).encode())
                elif url.path == "/query":
                    sql = parse_qs(url.query).get("sql", [""])[0]
                    self._answer(sql, "json")
                else:
                    self._dashboard(url.path)

            def do_POST(self) -> None:
                if urlparse(self.path).path != "/query":
                    self._error(HTTPStatus.NOT_FOUND, f"no {self.path} here")
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    sql, answer_format = body["sql"], body.get("format", "json")
                except (ValueError, KeyError, TypeError):
                    self._error(HTTPStatus.BAD_REQUEST, 'the body must be {"sql": "..."}')
                    return
                self._answer(sql, answer_format)

            def _answer(self, sql: str, answer_format: str) -> None:
                try:
                    table = server.query(sql)
                except RefusedQuery as error:
                    self._error(HTTPStatus.BAD_REQUEST, str(error))
                    return
                except QueryTimeout as error:
                    self._error(HTTPStatus.REQUEST_TIMEOUT, str(error))
                    return
                except duckdb.Error as error:
                    self._error(HTTPStatus.BAD_REQUEST, str(error))
                    return
                if answer_format == "arrow":
                    self._send(HTTPStatus.OK, ARROW_STREAM, arrow_stream(table))
                else:
                    self._send(HTTPStatus.OK, "application/json", table_json(table))

            def _dashboard(self, path: str) -> None:
                name = "index.html" if path in ("", "/") else path.lstrip("/")
                target = DASHBOARD_DIR / name
                if "/" in name or target.suffix not in CONTENT_TYPES or not target.is_file():
                    self._error(HTTPStatus.NOT_FOUND, f"no {path} here")
                    return
                self._send(HTTPStatus.OK, CONTENT_TYPES[target.suffix], target.read_bytes())

            def _error(self, status: HTTPStatus, message: str) -> None:
                self._send(status, "application/json", json.dumps({"error": message}).encode())

            def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        return Handler

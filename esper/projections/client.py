"""Queries from other processes: through the projector's server when it runs, else the file.

DuckDB lets one process write a database file and no other process open it meanwhile, so
while the projector runs, queries go to its HTTP server; otherwise the file is opened
read-only (with external access disabled, as the server does).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pyarrow as pa

from esper.config import esper_home
from esper.projections.readonly import (
    DEFAULT_TIMEOUT_S,
    LOCKED_DOWN,
    QueryTimeout,
    RefusedQuery,
    check_read_only,
    run_query,
)
from esper.projections.server import ARROW_STREAM


class QueryError(RuntimeError):
    """The query failed (a SQL error, or no projection to ask)."""


def projection_path() -> Path:
    """ESPER_PROJECTION_DB, else projections.duckdb under ESPER_HOME."""
    return Path(os.environ.get("ESPER_PROJECTION_DB") or esper_home() / "projections.duckdb")


def server_record() -> Path:
    """Where a running projector writes its pid, port and database path."""
    return esper_home() / "projector.json"


def running_server() -> str | None:
    """The base URL of a live query server, or None."""
    try:
        record = json.loads(server_record().read_text())
        os.kill(record["pid"], 0)
    except (OSError, ValueError, KeyError):
        return None
    url = f"http://127.0.0.1:{record['port']}"
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return url if answer.status == 200 else None
    except OSError:
        return None


def query(sql: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, db: str | Path | None = None
          ) -> pa.Table:
    """Run a read-only query on the projection and return a ``pyarrow.Table``.

    ``db`` names a projection file to read directly (a replayed one, say); by default the
    live projector answers if it runs, else its file is read.
    """
    check_read_only(sql)
    url = running_server() if db is None else None
    if url is not None:
        return _query_server(url, sql, timeout_s)
    path = Path(db) if db is not None else projection_path()
    if not path.exists():
        raise QueryError(f"no projection at {path}: start `esper run projector`, or build one "
                         "with `esper replay --into FILE`")
    with duckdb.connect(str(path), read_only=True, config=LOCKED_DOWN) as connection:
        try:
            return run_query(connection, sql, timeout_s)
        except duckdb.Error as error:
            raise QueryError(str(error)) from None


def _query_server(url: str, sql: str, timeout_s: float) -> pa.Table:
    request = urllib.request.Request(
        f"{url}/query", data=json.dumps({"sql": sql, "format": "arrow"}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s + 10) as answer:
            if answer.headers.get("Content-Type") != ARROW_STREAM:
                raise QueryError(f"unexpected answer from {url}: {answer.headers}")
            return pa.ipc.open_stream(answer.read()).read_all()
    except urllib.error.HTTPError as error:
        message = json.loads(error.read() or b"{}").get("error", str(error))
        if error.code == 408:
            raise QueryTimeout(message) from None
        if error.code == 400 and message.startswith(("only ", "one statement", "cannot parse")):
            raise RefusedQuery(message) from None
        raise QueryError(message) from None


def wait_caught_up(bootstrap: str | None = None, timeout_s: float = 120.0) -> None:
    """Wait until the live projection's offsets reach the end of every partition of the log
    (dead letters included): then every event written so far is visible in SQL."""
    from esper.bus.admin import log_end_offsets

    deadline = time.monotonic() + timeout_s
    while True:
        ends = log_end_offsets(bootstrap)
        stored = {(r["topic"], r["partition"]): r["next_offset"]
                  for r in query("SELECT * FROM projection_offsets").to_pylist()}
        behind = {tp: end for tp, end in ends.items() if end > stored.get(tp, 0)}
        if not behind:
            # A dead letter for the last batch may land just after it: look once more.
            time.sleep(0.3)
            if log_end_offsets(bootstrap) == ends:
                return
        elif time.monotonic() > deadline:
            raise QueryError(f"the projection is still behind the log after {timeout_s:g} s: "
                             + ", ".join(f"{t}[{p}]" for t, p in sorted(behind)))
        else:
            time.sleep(0.2)


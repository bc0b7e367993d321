"""Read-only SQL with a time limit: what `esper sql`, the query server and the dashboard run.

Only single SELECT (with WITH, DESCRIBE, SHOW, SUMMARIZE) and EXPLAIN statements pass; the
database is opened with external access disabled, so no query reads or writes files either.
"""

from __future__ import annotations

import threading

import duckdb
import pyarrow as pa

ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
DEFAULT_TIMEOUT_S = 30.0
LOCKED_DOWN = {"enable_external_access": False}


class RefusedQuery(ValueError):
    """The statement is not a read-only query."""


class QueryTimeout(TimeoutError):
    """The query ran past its time limit and was interrupted."""


def check_read_only(sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise RefusedQuery(f"cannot parse the query: {error}") from None
    if len(statements) != 1:
        raise RefusedQuery(f"one statement at a time, got {len(statements)}")
    kind = statements[0].type
    if kind not in ALLOWED:
        raise RefusedQuery(f"only SELECT, WITH, DESCRIBE, SHOW and EXPLAIN run here, "
                           f"not {kind.name}")


def run_query(connection: duckdb.DuckDBPyConnection, sql: str,
              timeout_s: float = DEFAULT_TIMEOUT_S) -> pa.Table:
    """Run a read-only query on ``connection`` (a cursor of its own), interrupting it after
    ``timeout_s``."""
    check_read_only(sql)
    timer = threading.Timer(timeout_s, connection.interrupt)
    timer.start()
    try:
        return connection.sql(sql).to_arrow_table()
    except duckdb.InterruptException:
        raise QueryTimeout(f"the query ran past its {timeout_s:g} s limit and was stopped") from None
    finally:
        timer.cancel()

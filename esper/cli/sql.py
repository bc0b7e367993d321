"""`esper sql`, `esper export` and `esper kernels`: reading the projections."""

from __future__ import annotations

import argparse
import json
import sys

import pyarrow as pa

from esper.cli import CommandError
from esper.cli.table import print_table
from esper.projections.client import QueryError, query
from esper.projections.export import export
from esper.projections.readonly import DEFAULT_TIMEOUT_S, QueryTimeout, RefusedQuery


def register(subparsers) -> None:
    sql = subparsers.add_parser(
        "sql", help="run a read-only query on the projection (live server, else the file)")
    sql.add_argument("query", help="SELECT, WITH, DESCRIBE, SHOW or EXPLAIN")
    sql.add_argument("--db", default=None, help="read this projection file instead")
    sql.add_argument("--json", action="store_true", help="one JSON object per row")
    sql.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                     help="seconds the query may run")
    sql.set_defaults(func=_sql)

    exporter = subparsers.add_parser(
        "export", help="write every projection table as Parquet partitioned by run")
    exporter.add_argument("--to", required=True, help="a folder or s3://bucket/prefix")
    exporter.add_argument("--db", default=None, help="export this projection file")
    exporter.set_defaults(func=_export)

    dashboard = subparsers.add_parser(
        "dashboard", help="serve the dashboard and SQL over a projection file (a replayed one, "
                          "say); the live projector serves its own")
    dashboard.add_argument("--db", default=None, help="the projection file (default: the live one's)")
    dashboard.add_argument("--port", type=int, default=8788, help="port on 127.0.0.1 (0 picks one)")
    dashboard.set_defaults(func=_dashboard)

    kernels = subparsers.add_parser("kernels", help="Urza's kernel library")
    actions = kernels.add_subparsers(dest="kernels_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="kernels, newest first")
    listing.add_argument("--status", default=None)
    listing.add_argument("--blueprint", default=None)
    listing.add_argument("--shape", default=None,
                         help="input shape without the batch dimension, e.g. 64 or 16,8,8")
    listing.add_argument("--db", default=None)
    listing.set_defaults(func=_kernels_list)
    show = actions.add_parser("show", help="one kernel, with its characterizations and use")
    show.add_argument("kernel_id")
    show.add_argument("--db", default=None)
    show.set_defaults(func=_kernels_show)


def read(sql: str, db: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> pa.Table:
    try:
        return query(sql, db=db, timeout_s=timeout_s)
    except (QueryError, RefusedQuery, QueryTimeout) as error:
        raise CommandError(str(error)) from None


def print_arrow(table: pa.Table) -> None:
    rows = table.to_pylist()
    print_table(table.column_names, [[_cell(row[c]) for c in table.column_names] for row in rows])
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "NULL"
    return str(value)


def _sql(args: argparse.Namespace) -> int:
    table = read(args.query, args.db, args.timeout)
    if args.json:
        for row in table.to_pylist():
            print(json.dumps(row, default=str))
    else:
        print_arrow(table)
    return 0


def _export(args: argparse.Namespace) -> int:
    try:
        written = export(lambda sql: read(sql, args.db), args.to)
    except ValueError as error:
        raise CommandError(str(error)) from None
    print(f"wrote {len(written)} Parquet file(s) under {args.to}", file=sys.stderr)
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    import threading

    import duckdb

    from esper.bus.consumer import StopSignals
    from esper.projections.client import projection_path
    from esper.projections.readonly import LOCKED_DOWN
    from esper.projections.server import QueryServer

    path = args.db or projection_path()
    try:
        connection = duckdb.connect(str(path), read_only=True, config=LOCKED_DOWN)
    except duckdb.Error as error:
        raise CommandError(f"cannot open {path}: {error}") from None
    server = QueryServer(connection, args.port, timeout_s=DEFAULT_TIMEOUT_S,
                         status=lambda: {"db": str(path), "live": False}).start()
    print(f"dashboard of {path} at http://127.0.0.1:{server.port}/ (Ctrl-C stops)", flush=True)
    stop = threading.Event()
    with StopSignals(stop):
        stop.wait()
    server.stop()
    connection.close()
    return 0


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _kernels_list(args: argparse.Namespace) -> int:
    where = []
    if args.status:
        where.append(f"status = {quoted(args.status)}")
    if args.blueprint:
        where.append(f"blueprint_id = {quoted(args.blueprint)}")
    if args.shape:
        try:
            dims = [int(d) for d in args.shape.split(",")]
        except ValueError:
            raise CommandError(f"--shape {args.shape!r} is not a list of integers") from None
        where.append(f"input_shape = {dims}")
    print_arrow(read(
        "SELECT kernel_id, blueprint_name, status, input_shape, output_shape, parameter_count, "
        "latency_ms, germinations, created_at FROM kernel_library"
        + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY created_at DESC",
        args.db))
    return 0


def _kernels_show(args: argparse.Namespace) -> int:
    table = read(f"SELECT * FROM kernel_library WHERE kernel_id = {quoted(args.kernel_id)}",
                 args.db)
    if table.num_rows == 0:
        raise CommandError(f"no kernel {args.kernel_id} in the library")
    for name, value in table.to_pylist()[0].items():
        print(f"{name:>20}  {_cell(value)}")
    print()
    print_arrow(read("SELECT device, batch_size, latency_ms, memory_mb, occurred_at "
                     f"FROM characterizations WHERE kernel_id = {quoted(args.kernel_id)} "
                     "ORDER BY occurred_at", args.db))
    return 0

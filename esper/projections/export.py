"""Every projection table as Parquet, partitioned by run, for DuckDB, Spark or Trino at scale.

Tables with a ``run_id`` column are written hive-style (``TABLE/run_id=R/part-0.parquet``);
the others as ``TABLE/part-0.parquet``. The destination is a folder or ``s3://bucket/prefix``
(through boto3; ESPER_S3_ENDPOINT names an S3-compatible server).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from esper.projections.schema import TABLES

EXPORTED = [name for name in TABLES if name not in ("projection_meta", "projection_offsets")]


def write_parquet(tables: dict[str, pa.Table], folder: Path) -> list[Path]:
    written = []
    for name, table in tables.items():
        target = folder / name
        if table.num_rows == 0:  # still a file, so that readers find the table and its schema
            target.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, target / "part-0.parquet")
            written.append(target / "part-0.parquet")
            continue
        partitioning = (ds.partitioning(pa.schema([table.schema.field("run_id")]), flavor="hive")
                        if "run_id" in table.column_names else None)
        ds.write_dataset(table, target, format="parquet", partitioning=partitioning,
                         existing_data_behavior="delete_matching",
                         basename_template="part-{i}.parquet")
        written += sorted(p for p in target.rglob("*.parquet"))
    return written


def export(query: Callable[[str], pa.Table], destination: str) -> list[str]:
    """Write every table (read with ``query``) to ``destination``; returns what was written."""
    tables = {name: query(f"SELECT * FROM {name}") for name in EXPORTED}
    if not destination.startswith("s3://"):
        folder = Path(destination)
        return [str(p) for p in write_parquet(tables, folder)]
    bucket, _, prefix = destination[len("s3://"):].partition("/")
    if not bucket:
        raise ValueError(f"{destination!r} names no bucket: use s3://bucket/prefix")
    import boto3

    s3 = boto3.client("s3", endpoint_url=os.environ.get("ESPER_S3_ENDPOINT") or None)
    uploaded = []
    with tempfile.TemporaryDirectory() as scratch:
        for path in write_parquet(tables, Path(scratch)):
            key = "/".join(filter(None, [prefix.strip("/"), str(path.relative_to(scratch))]))
            s3.upload_file(str(path), bucket, key)
            uploaded.append(f"s3://{bucket}/{key}")
    return uploaded

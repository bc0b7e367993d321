"""`esper export`: every table as Parquet partitioned by run, to a folder and to S3."""

from __future__ import annotations

import boto3
import duckdb
import pyarrow.dataset as ds

from esper.projections.export import EXPORTED, export
from esper.projections.client import query
from tests.bus.events import new_run_id
from tests.projections.test_projector import records
from esper.projections.projector import Projector
from tests.projections.workload import story


def projection(path, runs: list[str]):
    projector = Projector(path)
    offset = 0
    for run_id in runs:
        events = story(run_id)
        projector.apply(records(events, start=offset))
        offset += len(events)
    projector.close()
    return path


def test_export_to_a_folder_partitions_run_tables_by_run(tmp_path):
    runs = [new_run_id(), new_run_id()]
    db = projection(tmp_path / "p.duckdb", runs)
    written = export(lambda sql: query(sql, db=db), str(tmp_path / "out"))

    assert {p.split("/out/")[1].split("/")[0] for p in written} == set(EXPORTED)
    assert sorted(p.name for p in (tmp_path / "out" / "health_signals").iterdir()) == sorted(
        f"run_id={r}" for r in runs)
    signals = ds.dataset(tmp_path / "out" / "health_signals", partitioning="hive").to_table()
    assert signals.num_rows == 48 and set(signals["run_id"].to_pylist()) == set(runs)
    with duckdb.connect() as connection:  # what Spark or Trino would do, with DuckDB
        [(count,)] = connection.execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = true) WHERE run_id = ?",
            [str(tmp_path / "out" / "health_signals" / "**" / "*.parquet"), runs[0]]).fetchall()
    assert count == 24


def test_export_to_s3_lands_in_the_bucket(tmp_path, s3_bucket, s3_env):
    db = projection(tmp_path / "p.duckdb", [new_run_id()])
    written = export(lambda sql: query(sql, db=db), f"s3://{s3_bucket}/exports/today")
    listed = boto3.client("s3", endpoint_url=s3_env).list_objects_v2(
        Bucket=s3_bucket, Prefix="exports/today/")
    keys = {item["Key"] for item in listed["Contents"]}
    assert keys == {uri.split(f"s3://{s3_bucket}/")[1] for uri in written}
    assert any(k.startswith("exports/today/runs/run_id=") for k in keys)
    assert any(k.startswith("exports/today/kernels/part-") for k in keys)

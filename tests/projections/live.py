"""Drive `esper run projector` as a real process, and compare projection files."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
from esper.bus.producer import EventProducer
from esper.projections.client import wait_caught_up
from esper.projections.schema import TABLES


def cli(*args: str, home: Path, bootstrap: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "ESPER_HOME": str(home), "ESPER_KAFKA_BOOTSTRAP": bootstrap}
    return subprocess.run([sys.executable, "-m", "esper", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


class ProjectorProcess:
    def __init__(self, home: Path, bootstrap: str, *extra: str):
        self.home, self.bootstrap, self.extra = home, bootstrap, extra
        self.db = home / "projections.duckdb"
        self.process: subprocess.Popen | None = None
        self.port: int | None = None

    def start(self) -> ProjectorProcess:
        record = self.home / "projector.json"
        record.unlink(missing_ok=True)
        env = {**os.environ, "ESPER_HOME": str(self.home), "ESPER_KAFKA_BOOTSTRAP": self.bootstrap}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "esper", "run", "projector", "--port", "0", *self.extra],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.home / "projector.log", "a"))
        deadline = time.monotonic() + 60
        while not record.exists():
            assert self.process.poll() is None, (self.home / "projector.log").read_text()
            assert time.monotonic() < deadline, "the projector did not start"
            time.sleep(0.05)
        self.port = json.loads(record.read_text())["port"]
        return self

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(60) == 0

    def sql(self, query: str) -> list[list]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/query", data=json.dumps({"sql": query}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())["rows"]

    def wait_caught_up(self, timeout: float = 120) -> None:
        with patched_env(ESPER_HOME=str(self.home)):
            wait_caught_up(self.bootstrap, timeout)


@contextlib.contextmanager
def patched_env(**values: str):
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def produce(bootstrap: str, events: list) -> None:
    with EventProducer(bootstrap) as producer:
        producer.send_batch(events)


def tables_of(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows in a canonical order: equal dicts mean identical projections."""
    with duckdb.connect(str(path), read_only=True) as connection:
        return {name: connection.sql(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
                for name in TABLES}

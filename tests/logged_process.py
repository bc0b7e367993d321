"""A real `esper run NAME` process whose log lines the test can wait for."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time


class LoggedProcess:
    """``esper ARGS...`` as a child; its stderr lines are collected as they come."""

    def __init__(self, name: str, *esper_args: str, env: dict[str, str] | None = None):
        self.name = name
        self.args = [sys.executable, "-m", "esper", *esper_args]
        self.env = {**os.environ, **(env or {})}
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process: subprocess.Popen | None = None

    def start(self):
        self.lines.clear()
        self.process = subprocess.Popen(self.args, stderr=subprocess.PIPE, text=True,
                                        env=self.env)
        threading.Thread(target=self._collect, args=(self.process,), daemon=True).start()
        return self

    def _collect(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            with self._changed:
                self.lines.append(line.rstrip())
                self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> str:
        """The first log line matching ``pattern``, waiting for it if need be."""
        regex, deadline = re.compile(pattern), time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                if self.process.poll() is not None and not self._changed.wait(0.5):
                    raise AssertionError(f"{self.name} exited ({self.process.returncode}) "
                                         f"before logging {pattern!r}:\n" + "\n".join(self.lines))
                if time.monotonic() > deadline:
                    raise AssertionError(f"no log line {pattern!r} within {timeout:.0f} s:\n"
                                         + "\n".join(self.lines))
                self._changed.wait(0.2)

    def kill(self) -> int:
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM, as an orchestrator stops it; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

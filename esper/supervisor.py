"""Child processes that should stay up: started with logs to files, restarted if they crash,
stopped with SIGTERM (then SIGKILL) when their supervisor is done."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

RESTART_BACKOFF_S = 1.0
STOP_TIMEOUT_S = 30.0


@dataclasses.dataclass
class Child:
    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen | None = None
    restarts: int = 0


class Supervisor:
    """Runs ``esper`` sub-commands as children; a watcher thread restarts any that exits."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None, detach: bool = False):
        """``detach``: children get sessions of their own and outlive this process."""
        self.log_dir = Path(log_dir)
        self.detach = detach
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, **(env or {})}
        self.children: dict[str, Child] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self, name: str, *esper_args: str) -> Child:
        """Start ``esper ESPER_ARGS...`` as the child ``name``."""
        child = Child(name, [sys.executable, "-m", "esper", *esper_args],
                      self.log_dir / f"{name}.log")
        with self._lock:
            self.children[name] = child
            self._launch(child)
        if not self._watcher.is_alive():
            self._watcher.start()
        return child

    def _launch(self, child: Child) -> None:
        with open(child.log, "ab") as log:
            child.process = subprocess.Popen(child.argv, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=self.env,
                                             start_new_session=self.detach)

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            with self._lock:
                for child in self.children.values():
                    code = child.process.poll()
                    if code is None or self._stopping.is_set():
                        continue
                    with open(child.log, "ab") as log:
                        log.write(f"\n[supervisor] {child.name} exited with {code}; "
                                  f"restarting\n".encode())
                    time.sleep(RESTART_BACKOFF_S)
                    child.restarts += 1
                    self._launch(child)

    def stop(self) -> None:
        """SIGTERM every child, wait for them, SIGKILL those that linger."""
        self._stopping.set()
        with self._lock:
            running = [c.process for c in self.children.values() if c.process.poll() is None]
            for process in running:
                process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            for process in running:
                try:
                    process.wait(max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

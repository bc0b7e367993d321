"""A progress bar per epoch: steps done, running loss and accuracy, then validation figures.

On a terminal the line redraws in place (at most ten times a second); elsewhere (a log file,
a pipe) only each epoch's finished line is written.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from esper.tolaria.trainer import EpochResult

REDRAW_S = 0.1


class EpochProgress:
    def __init__(self, stream: TextIO = sys.stderr, width: int = 24):
        self.stream = stream
        self.width = width
        self.live = stream.isatty()
        self._label = ""
        self._steps = self._done = 0
        self._loss = self._accuracy = 0.0
        self._drawn_at = 0.0

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None:
        self._label = f"epoch {epoch:>{len(str(epochs))}}/{epochs}"
        self._steps, self._done = steps, 0
        self._drawn_at = 0.0

    def step_done(self, loss: float, accuracy: float) -> None:
        self._done += 1
        self._loss, self._accuracy = loss, accuracy
        now = time.monotonic()
        if self.live and now - self._drawn_at >= REDRAW_S:
            self._drawn_at = now
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def epoch_done(self, result: EpochResult) -> None:
        ending = (f" | val loss {result.val_loss:.4f} acc {result.val_accuracy:.4f}"
                  f" | {result.duration_seconds:5.2f}s")
        self.stream.write(("\r" if self.live else "") + self._line() + ending + "\n")
        self.stream.flush()

    def _line(self) -> str:
        filled = self.width * self._done // max(self._steps, 1)
        bar = "#" * filled + "." * (self.width - filled)
        return (f"{self._label} [{bar}] {self._done:>{len(str(self._steps))}}/{self._steps}"
                f"  loss {self._loss:.4f} acc {self._accuracy:.4f}")

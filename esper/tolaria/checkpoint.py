"""Checkpoint files: written whole or not at all, read back with only plain data allowed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


class CheckpointError(Exception):
    """A checkpoint that cannot be read; the message names the file and the reason."""


def write_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Save ``state`` to ``path`` through a temporary file, so a crash mid-write leaves the
    previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    torch.save(state, partial)
    os.replace(partial, path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    # weights_only: tensors and plain containers, never arbitrary pickled objects.
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except Exception as error:
        raise CheckpointError(f"checkpoint {path} is unreadable: {type(error).__name__}: {error}") from None

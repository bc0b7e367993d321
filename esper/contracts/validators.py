"""Upstream ``contracts/validators.py``."""

from __future__ import annotations


def validate_seed_id(value: object) -> tuple[int, int]:
    """Check a ``(layer_id, seed_idx)`` address and return it unchanged.

    Raises ValueError when it is not a 2-tuple or an element is negative, and TypeError when
    an element is not an int. Unlike upstream, bools are refused: ``(True, 0)`` is not an address.
    """
    if not isinstance(value, tuple) or len(value) != 2:
        raise ValueError("Seed ID must be a tuple of (layer_id, seed_idx)")
    if any(type(element) is bool or not isinstance(element, int) for element in value):
        raise TypeError("Seed ID elements must be integers")
    if any(element < 0 for element in value):
        raise ValueError("Seed ID elements must be non-negative")
    return value

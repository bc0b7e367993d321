"""Upstream contract tests, reference section 5.6: validate_seed_id."""

from __future__ import annotations

import pytest

from esper.contracts import validate_seed_id

from tests.contracts.timing import best_of


@pytest.mark.parametrize(
    "value", [(0, 1), (0, 0), (5, 10), (1000, 9999), (1, 100), (100, 1), (2**30, 2**30), (0, 1000), (1000, 0)]
)
def test_valid_addresses_are_returned_unchanged(value):
    assert validate_seed_id(value) is value


@pytest.mark.parametrize("value", ["0,1", [0, 1], 5, None, (1, 2, 3), (1,), ()])
def test_not_a_pair(value):
    with pytest.raises(ValueError, match="Seed ID must be a tuple"):
        validate_seed_id(value)


@pytest.mark.parametrize(
    "value", [("a", "b"), (1.5, 2), (1, 2.0), ("1", 2), (1, "2"), (None, 2), (1, None), (True, 0), (0, False)]
)
def test_elements_must_be_integers(value):
    # Bools were accepted upstream (defect 6.4): True is no layer id.
    with pytest.raises(TypeError, match="Seed ID elements must be integers"):
        validate_seed_id(value)


@pytest.mark.parametrize("value", [(-1, 0), (0, -1), (-1, -1), (-10, 0), (0, -10)])
def test_elements_must_be_non_negative(value):
    with pytest.raises(ValueError, match="Seed ID elements must be non-negative"):
        validate_seed_id(value)


def test_performance_limits():
    elapsed = best_of(lambda: [validate_seed_id((i, i)) for i in range(1_000)])
    assert elapsed < 0.01 and 1_000 / elapsed > 50_000

    def refuse_500() -> None:
        for i in range(500):
            with pytest.raises((ValueError, TypeError)):
                validate_seed_id((-1, i) if i % 2 else ("x", i))

    assert best_of(refuse_500) < 0.1

"""The seed and blueprint lifecycles of DESIGN.md section 3, as data, and the one check."""

from __future__ import annotations

import itertools

import pytest

from esper.contracts import (
    BLUEPRINT_TRANSITIONS,
    SEED_TRANSITIONS,
    BlueprintState,
    InvalidTransition,
    SeedState,
    check_transition,
)

SEED_TABLE = {  # DESIGN.md section 3, row for row
    "dormant": {"germinated"},
    "germinated": {"training", "culled"},
    "training": {"grafting", "culled"},
    "grafting": {"fossilized", "culled"},
    "culled": {"dormant"},
    "fossilized": set(),
}
BLUEPRINT_PATH = ["proposed", "compiling", "validating", "characterized", "deployed", "archived"]
TERMINAL = {"archived", "failed"}


def test_the_seed_table_is_the_design_table():
    assert {s.value: {t.value for t in targets} for s, targets in SEED_TRANSITIONS.items()} == SEED_TABLE


def test_the_blueprint_table_is_the_path_plus_failure_from_any_non_terminal_state():
    expected = {state: set() for state in [*BLUEPRINT_PATH, "failed"]}
    for state, following in itertools.pairwise(BLUEPRINT_PATH):
        expected[state].add(following)
    for state in expected:
        if state not in TERMINAL:
            expected[state].add("failed")
    assert {s.value: {t.value for t in targets} for s, targets in BLUEPRINT_TRANSITIONS.items()} == expected


@pytest.mark.parametrize(
    "source, target",
    [(s, t) for s in SeedState for t in SeedState] + [(s, t) for s in BlueprintState for t in BlueprintState],
)
def test_check_transition_follows_the_tables(source, target):
    table = SEED_TRANSITIONS if isinstance(source, SeedState) else BLUEPRINT_TRANSITIONS
    if target in table[source]:
        check_transition(source, target)
        check_transition(source.value, target.value)  # plain strings work too
    else:
        with pytest.raises(InvalidTransition) as raised:
            check_transition(source, target)
        error = raised.value
        assert (error.from_state, error.to_state) == (source.value, target.value)
        assert error.allowed == {state.value for state in table[source]}


def test_the_error_names_from_to_and_the_allowed_targets():
    with pytest.raises(InvalidTransition, match="^seed cannot go from dormant to grafting; allowed from dormant: germinated$"):
        check_transition("dormant", "grafting")
    with pytest.raises(InvalidTransition, match="allowed from fossilized: none, fossilized is terminal"):
        check_transition(SeedState.FOSSILIZED, SeedState.CULLED)
    with pytest.raises(InvalidTransition, match="^blueprint cannot go from proposed to deployed; allowed from proposed: compiling, failed$"):
        check_transition(BlueprintState.PROPOSED, BlueprintState.DEPLOYED)


def test_states_of_two_lifecycles_do_not_mix():
    with pytest.raises(ValueError, match="'compiling' is not a valid SeedState"):
        check_transition(SeedState.DORMANT, "compiling")
    with pytest.raises(ValueError, match="'nonsense' is not a valid BlueprintState"):
        check_transition("nonsense", "dormant")

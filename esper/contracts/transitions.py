"""The seed and blueprint lifecycles as data, and the one check every transition goes through.

Kasmina checks before it moves a seed, the event models check the transition they record, and
the projector checks the log against the state it holds: all with ``check_transition``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from esper.contracts.enums import BlueprintState, SeedState

SEED_TRANSITIONS: Mapping[SeedState, frozenset[SeedState]] = MappingProxyType(
    {
        SeedState.DORMANT: frozenset({SeedState.GERMINATED}),
        SeedState.GERMINATED: frozenset({SeedState.TRAINING, SeedState.CULLED}),
        SeedState.TRAINING: frozenset({SeedState.GRAFTING, SeedState.CULLED}),
        SeedState.GRAFTING: frozenset({SeedState.FOSSILIZED, SeedState.CULLED}),
        SeedState.CULLED: frozenset({SeedState.DORMANT}),  # the slot is recycled
        SeedState.FOSSILIZED: frozenset(),
    }
)

BLUEPRINT_TRANSITIONS: Mapping[BlueprintState, frozenset[BlueprintState]] = MappingProxyType(
    {
        BlueprintState.PROPOSED: frozenset({BlueprintState.COMPILING, BlueprintState.FAILED}),
        BlueprintState.COMPILING: frozenset({BlueprintState.VALIDATING, BlueprintState.FAILED}),
        BlueprintState.VALIDATING: frozenset({BlueprintState.CHARACTERIZED, BlueprintState.FAILED}),
        BlueprintState.CHARACTERIZED: frozenset({BlueprintState.DEPLOYED, BlueprintState.FAILED}),
        BlueprintState.DEPLOYED: frozenset({BlueprintState.ARCHIVED, BlueprintState.FAILED}),
        BlueprintState.ARCHIVED: frozenset(),
        BlueprintState.FAILED: frozenset(),
    }
)


class InvalidTransition(ValueError):
    """A lifecycle transition the tables do not allow."""

    def __init__(self, lifecycle: str, from_state: str, to_state: str, allowed: frozenset[str]):
        self.lifecycle = lifecycle
        self.from_state = from_state
        self.to_state = to_state
        self.allowed = allowed
        targets = ", ".join(sorted(allowed)) if allowed else f"none, {from_state} is terminal"
        super().__init__(
            f"{lifecycle} cannot go from {from_state} to {to_state}; "
            f"allowed from {from_state}: {targets}"
        )


def check_transition(
    from_state: SeedState | BlueprintState | str, to_state: SeedState | BlueprintState | str
) -> None:
    """Raise InvalidTransition unless ``from_state -> to_state`` is allowed.

    The lifecycle follows from ``from_state``: seed and blueprint state values do not overlap,
    so plain strings work too. A ``to_state`` of the other lifecycle raises ValueError.
    """
    if isinstance(from_state, SeedState) or from_state in SeedState._value2member_map_:
        lifecycle, table, enum = "seed", SEED_TRANSITIONS, SeedState
    else:
        lifecycle, table, enum = "blueprint", BLUEPRINT_TRANSITIONS, BlueprintState
    source, target = enum(from_state), enum(to_state)
    allowed = table[source]
    if target not in allowed:
        raise InvalidTransition(
            lifecycle, source.value, target.value, frozenset(state.value for state in allowed)
        )

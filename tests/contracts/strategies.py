"""Hypothesis strategies for every contract model, derived from the models' own constraints.

Field strategies come from the annotations and their metadata (bounds, lengths, patterns), so a
new field is covered without a new strategy. Cross-field rules cannot be read off the
annotations; ``_REPAIRS`` adjusts generated values to satisfy them (never by discarding
examples), so every generated instance is valid by construction or the test fails loudly.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import annotated_types
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from esper.contracts import (
    BLUEPRINT_TRANSITIONS,
    EVENT_MODELS,
    SEED_TRANSITIONS,
    AdaptationDecision,
    AdaptationType,
    BlueprintState,
    BlueprintStateChanged,
    BlueprintSubmitted,
    CompiledKernel,
    EpochCompleted,
    Event,
    EventMeta,
    FieldReport,
    HealthSignal,
    HostTopology,
    KasminaCommand,
    KasminaControlCommand,
    SeedState,
    SeedStateChanged,
    SystemStatePacket,
    TelemetryDropped,
    TrainingRunCompleted,
    TrainingRunStarted,
    TrainingStatus,
)
from esper.contracts.fields import AttributeValue, LONG_MAX, LONG_MIN

MAX_ITEMS = 3

attribute_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(LONG_MIN, LONG_MAX),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
attributes = st.dictionaries(st.text(max_size=8), attribute_values, max_size=MAX_ITEMS)
timezones = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
# Whole range of years, but away from the edges where a UTC offset leaves years 1..9999.
aware_datetimes = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC) | timezones
)


def models(model: type[BaseModel], **fixed: Any) -> st.SearchStrategy[Any]:
    """Valid instances of ``model``; ``fixed`` pins fields to strategies or values."""
    strip = bool(model.model_config.get("str_strip_whitespace"))
    fields = {
        name: _as_strategy(fixed[name]) if name in fixed else _field(info, strip)
        for name, info in model.model_fields.items()
    }
    if issubclass(model, Event) and model.run_scoped and "meta" not in fixed:
        fields["meta"] = models(EventMeta, run_id=_identifiers)
    repair = _REPAIRS.get(model, lambda values: values)
    return st.fixed_dictionaries(fields).map(repair).map(lambda values: model(**values))


def events() -> st.SearchStrategy[Event]:
    """Any event of any type."""
    return st.one_of([models(m) for m in EVENT_MODELS.values()])


def _as_strategy(value: Any) -> st.SearchStrategy[Any]:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def _field(info: FieldInfo, strip: bool) -> st.SearchStrategy[Any]:
    return _annotation(info.annotation, list(info.metadata), strip)


def _annotation(annotation: Any, metadata: list[Any], strip: bool) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        inner = list(metadata)
        for extra in args[1:]:
            inner.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
        return _annotation(args[0], inner, strip)
    if origin in (typing.Union, types.UnionType):
        branches = [a for a in args if a is not type(None)]
        assert len(branches) == 1, f"no strategy for the union {annotation}"
        return st.none() | _annotation(branches[0], metadata, strip)
    if origin is list:
        item = _annotation(args[0], [], strip)
        return st.lists(item, min_size=_bound(metadata, "min_length", 0), max_size=MAX_ITEMS)
    if origin is dict:
        if args[1] == AttributeValue:
            return attributes
        return st.dictionaries(st.text(max_size=8), _annotation(args[1], [], strip), max_size=MAX_ITEMS)
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return models(annotation)
        if issubclass(annotation, enum.Enum):
            return st.sampled_from([member.value for member in annotation])
        if annotation is AwareDatetime:
            return aware_datetimes
        if annotation is bool:
            return st.booleans()
        if annotation is int:
            return st.integers(_bound(metadata, "ge", None), _bound(metadata, "le", None))
        if annotation is float:
            return st.floats(
                _bound(metadata, "ge", None), _bound(metadata, "le", None), allow_nan=False, allow_infinity=False
            )
        if annotation is str:
            return _text(metadata, strip)
    raise AssertionError(f"no strategy for {annotation!r} {metadata}")


def _text(metadata: list[Any], strip: bool) -> st.SearchStrategy[str]:
    for item in metadata:
        if getattr(item, "pattern", None):
            return st.from_regex(item.pattern, fullmatch=True)
    low, high = _bound(metadata, "min_length", 0), _bound(metadata, "max_length", 40)
    text = st.text(min_size=low, max_size=min(high, 40))
    if strip:  # stripping must leave a valid value: no surrounding whitespace to strip
        text = text.filter(lambda s: s == s.strip() and len(s) >= low)
    return text


def _bound(metadata: list[Any], name: str, default: Any) -> Any:
    # Several bounds may apply (Count's ge=0 and a field's ge=1): the tightest wins.
    kinds = {
        "ge": annotated_types.Ge,
        "le": annotated_types.Le,
        "min_length": annotated_types.MinLen,
        "max_length": annotated_types.MaxLen,
    }
    values = [getattr(m, name) for m in metadata if isinstance(m, kinds[name])]
    if not values:
        return default
    return max(values) if name in ("ge", "min_length") else min(values)


_identifiers = st.from_regex(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$", fullmatch=True)


def _active_within_total(values: dict[str, Any]) -> dict[str, Any]:
    low, high = sorted((values["active_seeds"], values["total_seeds"]))
    return {**values, "active_seeds": low, "total_seeds": max(high, 1)}


def _topology(values: dict[str, Any]) -> dict[str, Any]:
    layers = [
        layer.model_copy(update={"layer_id": index, "name": f"{layer.name[:240]}#{index}"})
        for index, layer in enumerate(values["layers"])
    ]
    return {**values, "layers": layers}


def _run_is_session(values: dict[str, Any]) -> dict[str, Any]:
    meta = values["meta"].model_copy(update={"run_id": values["session"].session_id})
    return {**values, "meta": meta}


def _same_epoch(values: dict[str, Any]) -> dict[str, Any]:
    state = values["system_state"].model_copy(update={"epoch": values["epoch"]})
    return {**values, "system_state": state}


def _final_status(values: dict[str, Any]) -> dict[str, Any]:
    failed = values["status"] not in (TrainingStatus.COMPLETED, TrainingStatus.RUNNING)
    return {
        **values,
        "status": TrainingStatus.FAILED if failed else TrainingStatus.COMPLETED,
        "error": (values["error"] or "failed") if failed else None,
    }


def _decision_target(values: dict[str, Any]) -> dict[str, Any]:
    if values["adaptation_type"] in (AdaptationType.ADD_SEED, AdaptationType.REMOVE_SEED):
        values = {**values, "slot_index": values["slot_index"] or 0}
    if values["adaptation_type"] == AdaptationType.ADD_SEED:
        values = {**values, "blueprint_id": values["blueprint_id"] or "bp-1"}
    return values


def _command_arguments(values: dict[str, Any]) -> dict[str, Any]:
    if values["command"] == KasminaCommand.GERMINATE:
        values = {
            **values,
            "blueprint_id": values["blueprint_id"] or "bp-1",
            "kernel_id": values["kernel_id"] or "kernel-1",
        }
    if values["command"] == KasminaCommand.SET_ALPHA and values["alpha"] is None:
        values = {**values, "alpha": 0.5}
    return values


def _allowed_transition(table: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    pairs = sorted((a.value, b.value) for a, targets in table.items() for b in targets)
    order = {state.value: position for position, state in enumerate(table)}

    def repair(values: dict[str, Any]) -> dict[str, Any]:
        # Map the drawn (from, to) pair onto an allowed one, deterministically.
        source, target = pairs[(order[values["from_state"]] * 7 + order[values["to_state"]]) % len(pairs)]
        return {**values, "from_state": source, "to_state": target}

    return repair


def _submitted(values: dict[str, Any]) -> dict[str, Any]:
    blueprint = values["blueprint"].model_copy(update={"state": BlueprintState.PROPOSED.value})
    distinct = {(tuple(s.input_shape), tuple(s.output_shape)): s for s in values["target_shapes"]}
    return {**values, "blueprint": blueprint, "blueprint_id": blueprint.blueprint_id,
            "target_shapes": list(distinct.values())}


def _kernel_ids(values: dict[str, Any]) -> dict[str, Any]:
    metadata = values["metadata"].model_copy(
        update={"kernel_id": values["kernel_id"], "blueprint_id": values["blueprint_id"]}
    )
    return {**values, "metadata": metadata}


def _window(values: dict[str, Any]) -> dict[str, Any]:
    start, end = sorted((values["window_start"], values["window_end"]))
    return {**values, "window_start": start, "window_end": end}


def _ended(values: dict[str, Any]) -> dict[str, Any]:
    ended = values["final_state"] in (SeedState.FOSSILIZED, SeedState.CULLED)
    return values if ended else {**values, "final_state": SeedState.CULLED.value}


_REPAIRS: dict[type[BaseModel], Callable[[dict[str, Any]], dict[str, Any]]] = {
    HealthSignal: _active_within_total,
    SystemStatePacket: _active_within_total,
    HostTopology: _topology,
    TrainingRunStarted: _run_is_session,
    EpochCompleted: _same_epoch,
    TrainingRunCompleted: _final_status,
    AdaptationDecision: _decision_target,
    KasminaControlCommand: _command_arguments,
    SeedStateChanged: _allowed_transition(SEED_TRANSITIONS),
    BlueprintStateChanged: _allowed_transition(BLUEPRINT_TRANSITIONS),
    BlueprintSubmitted: _submitted,
    CompiledKernel: _kernel_ids,
    TelemetryDropped: _window,
    FieldReport: _ended,
}

"""Each constraint, broken, raises a validation error that names the field.

The field-level cases are derived from the models (every bound, length and pattern of every
field of every record model), so a new constraint is tested without a new test; the
cross-field rules are listed by hand.
"""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Any

import annotated_types
import pytest
from hypothesis import Phase, find, settings
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from esper.contracts import (
    RECORD_MODELS,
    BlueprintStateChanged,
    BlueprintSubmitted,
    EpochCompleted,
    FieldReport,
    HealthSignal,
    HostTopology,
    KasminaControlCommand,
    SeedStateChanged,
    TelemetryDropped,
    TrainingRunCompleted,
    TrainingRunStarted,
)

from tests.contracts.builders import RUN
from tests.contracts.strategies import models

# A valid instance of each model: the first example hypothesis generates, derandomized.
_FIRST = settings(database=None, derandomize=True, phases=[Phase.generate])
EXAMPLES = {name: find(models(model), lambda _: True, settings=_FIRST) for name, model in RECORD_MODELS.items()}


def valid_dict(model: type[BaseModel]) -> dict[str, Any]:
    """A valid instance's fields, nested models kept as instances."""
    instance = EXAMPLES[model.avro_name]
    return {name: getattr(instance, name) for name in model.model_fields}


def _constraints(info: FieldInfo) -> tuple[Any, list[Any]]:
    """The field's annotation without Optional, and every constraint on it (outer and inner)."""
    annotation, metadata = info.annotation, list(info.metadata)
    while True:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Annotated:
            annotation = args[0]
            for extra in args[1:]:
                metadata.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
        elif origin is typing.Union and type(None) in args:
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation, metadata


def violations() -> list[tuple[type[BaseModel], str, Any, str]]:
    """(model, field, bad value, why) for every field-level constraint of every model."""
    cases = []
    for model in RECORD_MODELS.values():
        for name, info in model.model_fields.items():
            annotation, metadata = _constraints(info)
            if annotation is float:
                cases += [(model, name, float("nan"), "NaN"), (model, name, float("inf"), "infinity")]
            if annotation is datetime or getattr(annotation, "__name__", "") == "AwareDatetime":
                cases.append((model, name, datetime(2025, 1, 1), "naive datetime"))
            for item in metadata:
                if isinstance(item, annotated_types.Ge):
                    cases.append((model, name, item.ge - 1, f"below {item.ge}"))
                elif isinstance(item, annotated_types.Le):
                    cases.append((model, name, item.le + 1, f"above {item.le}"))
                elif isinstance(item, annotated_types.MinLen):
                    empty = [] if typing.get_origin(annotation) is list else ""
                    cases.append((model, name, empty, "too short"))
                elif isinstance(item, annotated_types.MaxLen):
                    cases.append((model, name, "x" * (item.max_length + 1), "too long"))
                elif getattr(item, "pattern", None):
                    cases.append((model, name, "not valid!", "pattern"))
            if typing.get_origin(annotation) is list and name.endswith("shape"):
                cases += [(model, name, [4, 0], "zero dimension"), (model, name, [-1], "negative dimension")]
    return cases


CASES = violations()


def test_the_derived_cases_cover_the_fixed_defects():
    described = {(model.__name__, name, why) for model, name, _, why in CASES}
    assert ("HealthSignal", "health_score", "NaN") in described
    assert ("HealthSignal", "activation_variance", "infinity") in described
    assert ("KernelMetadata", "input_shape", "zero dimension") in described
    assert ("KernelMetadata", "checksum", "pattern") in described
    assert ("EventMeta", "occurred_at", "naive datetime") in described
    assert len(CASES) > 150


@pytest.mark.parametrize("model, field, value, why", CASES, ids=lambda c: getattr(c, "__name__", str(c))[:30])
def test_a_broken_field_constraint_names_the_field(model, field, value, why):
    with pytest.raises(ValidationError) as raised:
        model(**(valid_dict(model) | {field: value}))
    assert raised.value.errors()[0]["loc"][0] == field, raised.value


@pytest.mark.parametrize("model", RECORD_MODELS.values(), ids=lambda m: m.__name__)
def test_unknown_fields_are_refused_everywhere(model):
    with pytest.raises(ValidationError, match="surprise") as raised:
        model(**valid_dict(model), surprise=1)
    assert raised.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("value, why", [
    ({"nested": {"a": 1}}, "dict"), ({"values": [1, 2]}, "list"), ({"big": 2**63}, "fit in a 64-bit long"),
    ({"x": float("nan")}, "finite"), ({"x": float("-inf")}, "finite"),
])  # fmt: skip
def test_attribute_maps_take_flat_finite_scalars_only(value, why):
    model = RECORD_MODELS["esper.assets.Seed"]
    key = next(iter(value))
    with pytest.raises(ValidationError, match=why) as raised:
        model(**(valid_dict(model) | {"metadata": value}))
    assert raised.value.errors()[0]["loc"] == ("metadata", key)


def test_attribute_maps_keep_each_scalar_type():
    model = RECORD_MODELS["esper.assets.Seed"]
    seed = model(**(valid_dict(model) | {"metadata": {"b": True, "i": 1, "f": 1.0, "s": "1", "n": None}}))
    assert [type(v) for v in seed.metadata.values()] == [bool, int, float, str, type(None)]


def _event(model: type[BaseModel], **changes: Any) -> None:
    model(**(valid_dict(model) | changes))


def _meta(model: type[BaseModel], **changes: Any):
    return valid_dict(model)["meta"].model_copy(update=changes)


# (model, changes to a valid instance, text the error must contain: the fields involved)
CROSS_FIELD = [
    (HealthSignal, dict(active_seeds=3, total_seeds=2), "active_seeds (3) exceeds total_seeds (2)"),
    (HealthSignal, dict(meta=None), "meta"),
    (HostTopology, dict(layers=[EXAMPLES["esper.training.HostLayer"]] * 2), "layers: two layers have layer_id"),
    (TelemetryDropped, dict(window_start=datetime(2025, 1, 2).astimezone(), window_end=datetime(2025, 1, 1).astimezone()), "window_end"),
    (TrainingRunCompleted, dict(status="running"), "status must be completed or failed"),
    (TrainingRunCompleted, dict(status="failed", error=None), "error is required when status is failed"),
    (TrainingRunCompleted, dict(status="completed", error="boom"), "error is required when status is failed, and only then"),
    (KasminaControlCommand, dict(command="germinate", kernel_id=None), "is required for command germinate"),
    (KasminaControlCommand, dict(command="set_alpha", alpha=None), "alpha is required for command set_alpha"),
    (SeedStateChanged, dict(from_state="dormant", to_state="training"), "from_state -> to_state: seed cannot go from dormant to training"),
    (SeedStateChanged, dict(from_state="fossilized", to_state="culled"), "none, fossilized is terminal"),
    (BlueprintStateChanged, dict(from_state="archived", to_state="failed"), "from_state -> to_state: blueprint cannot go from archived"),
    (BlueprintSubmitted, dict(blueprint_id="other"), "blueprint.blueprint_id"),
    (FieldReport, dict(final_state="training"), "final_state must be fossilized or culled"),
]  # fmt: skip


@pytest.mark.parametrize("model, changes, message", CROSS_FIELD, ids=lambda c: getattr(c, "__name__", "")[:20])
def test_a_broken_cross_field_rule_names_the_fields(model, changes, message):
    with pytest.raises(ValidationError) as raised:
        _event(model, **changes)
    assert message in str(raised.value)


def test_run_scoped_events_need_a_run_id():
    with pytest.raises(ValidationError, match="meta.run_id is required: a HealthSignal belongs to a run"):
        _event(HealthSignal, meta=_meta(HealthSignal, run_id=None))
    _event(HealthSignal, meta=_meta(HealthSignal, run_id=RUN))


def test_the_run_of_a_run_started_event_is_its_session():
    with pytest.raises(ValidationError, match="meta.run_id 'another-run' differs from session.session_id"):
        _event(TrainingRunStarted, meta=_meta(TrainingRunStarted, run_id="another-run"))


def test_an_epoch_carries_its_own_system_state():
    state = valid_dict(EpochCompleted)["system_state"]
    with pytest.raises(ValidationError, match=r"system_state.epoch \(\d+\) differs from epoch"):
        _event(EpochCompleted, epoch=state.epoch + 1)

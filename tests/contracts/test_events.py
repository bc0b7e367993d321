"""Events are immutable facts with lineage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from esper.contracts import BlueprintSubmitted, ComponentType, EventMeta, TrainingRunStarted

from tests.contracts.builders import blueprint, health_signal


def test_events_cannot_be_changed():
    signal = health_signal()
    with pytest.raises(ValidationError, match="frozen"):
        signal.health_score = 0.1
    with pytest.raises(ValidationError, match="frozen"):
        signal.meta.run_id = "other"


def test_an_event_keeps_its_own_copy_of_the_mutable_models_it_carries():
    bp = blueprint()
    event = BlueprintSubmitted(
        meta=EventMeta.new("karn"), blueprint_id=bp.blueprint_id, submitted_by="karn", blueprint=bp
    )
    bp.state = "compiling"
    bp.hyperparameters["lr"] = 0.5
    assert event.blueprint.state == "proposed"
    assert event.blueprint.hyperparameters == {}


def test_meta_inherits_the_run_of_its_cause_unless_told_otherwise():
    cause = health_signal()
    assert EventMeta.new(ComponentType.TAMIYO, causation=cause).run_id == cause.meta.run_id
    assert EventMeta.new(ComponentType.TAMIYO, causation=cause, run_id="run-2").run_id == "run-2"
    assert EventMeta.new(ComponentType.KARN).run_id is None


def test_meta_times_are_utc_whatever_zone_they_came_in():
    local = datetime(2025, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    meta = EventMeta.new("kasmina").model_copy(update={"occurred_at": local})
    normalised = EventMeta.model_validate(meta.model_dump())
    assert normalised.occurred_at.tzinfo is not None
    assert normalised.occurred_at.utcoffset() == timedelta(0) and normalised.occurred_at == local


def test_event_classes_name_their_schema():
    assert TrainingRunStarted.avro_name == "esper.training.TrainingRunStarted"
    assert not BlueprintSubmitted.run_scoped and TrainingRunStarted.run_scoped

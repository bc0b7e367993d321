from __future__ import annotations

import pytest

from esper.contracts import Architecture, ArchitectureLayer, BlueprintState, BlueprintSubmitted
from esper.contracts import ComponentType, EventMeta
from esper.karn import CATALOGUE, IR_VERSION, BlueprintError, BlueprintIR


def test_defaults_are_filled_in_so_equal_designs_hash_equal():
    written_out = BlueprintIR.of("lora", {"rank": 8})
    implied = BlueprintIR.of("lora")

    assert written_out == implied
    assert written_out.content_hash == implied.content_hash
    assert implied.params == {"rank": 8}


def test_the_content_hash_covers_kind_parameters_and_seed():
    hashes = {BlueprintIR.of("lora").content_hash, BlueprintIR.of("lora", {"rank": 4}).content_hash,
              BlueprintIR.of("lora", seed=7).content_hash,
              BlueprintIR.of("lora_large", {"rank": 8}).content_hash}

    assert len(hashes) == 4


def test_the_blueprint_id_is_the_kind_and_a_prefix_of_the_content_hash():
    ir = BlueprintIR.of("conv_light", {"kernel_size": 5})

    assert ir.blueprint_id == f"conv_light-{ir.content_hash[:24]}"


def test_the_content_hash_is_that_of_the_canonical_json_and_never_changes():
    # Blueprint and kernel ids in the log are derived from it: a change orphans them.
    ir = BlueprintIR.of("lora")

    assert ir.canonical() == {"ir_version": 1, "kind": "lora", "params": {"rank": 8}, "seed": 0}
    assert ir.content_hash == "bedc7c2c724d96f18c6171e106566c7295f5f8ac26d3574f0fc4db96681e5b36"


@pytest.mark.parametrize("kind", sorted(CATALOGUE))
def test_every_kind_round_trips_through_a_blueprint_architecture(kind):
    ir = BlueprintIR.of(kind, seed=3)

    blueprint = ir.blueprint()

    assert blueprint.blueprint_id == ir.blueprint_id
    assert blueprint.state == BlueprintState.PROPOSED
    assert blueprint.created_by == "karn"
    assert BlueprintIR.from_architecture(blueprint.architecture) == ir


def test_a_blueprint_travels_in_a_submission_event():
    blueprint = BlueprintIR.of("mlp").blueprint()

    event = BlueprintSubmitted(meta=EventMeta.new(ComponentType.KARN),
                               blueprint_id=blueprint.blueprint_id, submitted_by="karn",
                               blueprint=blueprint)

    assert BlueprintIR.from_architecture(event.blueprint.architecture).kind == "mlp"


def _architecture(layers, **attributes):
    return Architecture(layers=[ArchitectureLayer(kind=k, params=p) for k, p in layers],
                        attributes={"ir_version": IR_VERSION, **attributes})


@pytest.mark.parametrize("architecture, message", [
    (_architecture([]), "exactly one layer, this one has 0"),
    (_architecture([("lora", {}), ("norm", {})]), "exactly one layer, this one has 2"),
    (_architecture([("transformer", {})]), "unknown blueprint kind 'transformer'"),
    (_architecture([("lora", {"rank": "8"})]), "rank must be int, got '8'"),
    (_architecture([("lora", {"rank": True})]), "rank must be int, got True"),
    (_architecture([("lora", {"rank": 0})]), "rank must be >= 1, got 0"),
    (_architecture([("lora", {"alpha": 16})]), "lora has no parameter 'alpha'"),
    (_architecture([("lora", {})], ir_version=2), "ir_version is 2"),
    (_architecture([("lora", {})], seed=-1), "seed must be an integer"),
    (_architecture([("lora", {})], color="red"), r"unknown architecture attributes \['color'\]"),
], ids=["no-layer", "two-layers", "unknown-kind", "string-param", "bool-param", "out-of-range",
        "unknown-param", "future-version", "negative-seed", "unknown-attribute"])
def test_a_malformed_architecture_is_refused_with_the_reason(architecture, message):
    with pytest.raises(BlueprintError, match=message):
        BlueprintIR.from_architecture(architecture)


def test_command_line_assignments_are_parsed_to_their_parameter_types():
    ir = BlueprintIR.parse("attention", ["heads=8", "causal=false", "reduction = 2"])

    assert ir.params == {"causal": False, "heads": 8, "reduction": 2}


@pytest.mark.parametrize("assignment, message", [
    ("rank", "not of the form name=value"),
    ("rank=eight", "rank must be int, got 'eight'"),
    ("rank=1.5", "rank must be int"),
    ("alpha=1", "no parameter 'alpha'"),
])
def test_bad_command_line_assignments_say_what_is_wrong(assignment, message):
    with pytest.raises(BlueprintError, match=message):
        BlueprintIR.parse("lora", [assignment])


def test_a_float_parameter_takes_an_integer_and_refuses_infinity():
    from esper.karn import Param

    ratio = Param("ratio", float, 0.5, "a ratio", 0.0, None)

    assert ratio.check(1) == 1.0 and type(ratio.check(1)) is float
    with pytest.raises(BlueprintError, match="finite"):
        ratio.check(float("inf"))

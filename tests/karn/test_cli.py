from __future__ import annotations

import uuid

import pytest

from esper.bus import replay
from esper.bus.admin import create_topics
from esper.bus.topics import BLUEPRINTS
from esper.cli import main
from esper.cli.blueprints import kernel_shape
from esper.contracts import BlueprintSubmitted, KernelShape
from esper.karn import CATALOGUE, BlueprintIR


def test_list_shows_every_kind_with_its_layouts_and_defaults(capsys):
    assert main(["blueprints", "list"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["kind", "applies", "to", "parameters", "what", "it", "is"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == set(CATALOGUE)
    assert "sequence, features" in rows["lora"] and "rank=8" in rows["lora"]
    assert "causal=true" in rows["attention"]


def test_list_of_one_kind_shows_each_form_and_parameter_range(capsys):
    assert main(["blueprints", "list", "attention"]) == 0

    out = capsys.readouterr().out
    assert "squeeze-and-excitation" in out and "self-attention" in out
    assert "heads=4 (int [1..64])" in out


@pytest.mark.parametrize("argv, message", [
    (["blueprints", "list", "resnet"], "unknown blueprint kind 'resnet'"),
    (["blueprints", "submit", "lora", "--param", "rank=big"], "rank must be int, got 'big'"),
    (["blueprints", "submit", "lora", "--param", "alpha=2"], "lora has no parameter 'alpha'"),
    (["blueprints", "submit", "lora", "--seed", "-1"], "seed must be an integer"),
    (["blueprints", "submit", "lora", "--shape", "64", "--shape", "64:64"],
     "target_shapes[1] repeats target_shapes[0]"),
    (["blueprints", "submit", "lora", *(f"--shape={d}" for d in range(1, 10))],
     "target_shapes: List should have at most 8 items"),
])
def test_bad_input_is_one_line_naming_what_is_wrong(argv, message, capsys):
    assert main(argv) == 1

    assert message in capsys.readouterr().err


@pytest.mark.parametrize("shape", ["128:x", "0", "128:", "8,,8", "-1:4", "1.5"])
def test_a_shape_is_positive_dimensions_in_and_optionally_out(shape, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["blueprints", "submit", "lora", f"--shape={shape}"])

    assert exited.value.code == 2
    assert (f"argument --shape: {shape!r}: dimensions are whole numbers from 1, separated by "
            "commas") in capsys.readouterr().err


def test_a_shape_without_output_keeps_its_input():
    assert kernel_shape("64,8,8") == KernelShape(input_shape=[64, 8, 8], output_shape=[64, 8, 8])
    assert kernel_shape(" 128 :10") == KernelShape(input_shape=[128], output_shape=[10])


def test_submit_publishes_the_design_under_its_content_id(kafka_bootstrap, monkeypatch, capsys):
    create_topics(kafka_bootstrap, (BLUEPRINTS,))
    monkeypatch.setenv("ESPER_KAFKA_BOOTSTRAP", kafka_bootstrap)
    seed = uuid.uuid4().int % 10**9  # a design no other test submits
    expected = BlueprintIR.of("attention", {"heads": 8, "causal": False}, seed)

    assert main(["blueprints", "submit", "attention", "--param", "heads=8",
                 "--param", "causal=false", "--seed", str(seed)]) == 0

    assert capsys.readouterr().out.strip().endswith(f"as {expected.blueprint_id}")
    found = [r.event for r in replay.read([BLUEPRINTS.name], bootstrap=kafka_bootstrap)
             if isinstance(r.event, BlueprintSubmitted)
             and r.event.blueprint_id == expected.blueprint_id]
    assert len(found) == 1
    assert BlueprintIR.from_architecture(found[0].blueprint.architecture) == expected
    assert found[0].submitted_by == "karn"
    assert found[0].target_shapes == []


def test_submit_with_shapes_asks_for_those_kernels(kafka_bootstrap, monkeypatch, capsys):
    create_topics(kafka_bootstrap, (BLUEPRINTS,))
    monkeypatch.setenv("ESPER_KAFKA_BOOTSTRAP", kafka_bootstrap)
    seed = uuid.uuid4().int % 10**9
    expected = BlueprintIR.of("lora", {}, seed)

    assert main(["blueprints", "submit", "lora", "--seed", str(seed),
                 "--shape", "128:10", "--shape", "5,16"]) == 0

    assert "compiles it for 2 shape(s)" in capsys.readouterr().out
    [found] = [r.event for r in replay.read([BLUEPRINTS.name], bootstrap=kafka_bootstrap)
               if isinstance(r.event, BlueprintSubmitted)
               and r.event.blueprint_id == expected.blueprint_id]
    assert found.target_shapes == [KernelShape(input_shape=[128], output_shape=[10]),
                                   KernelShape(input_shape=[5, 16], output_shape=[5, 16])]

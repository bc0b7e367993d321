"""`esper schemas list|show|check|release` and `esper decode`."""

from __future__ import annotations

import io
import json
import sys

import pytest

from esper import codec
from esper.cli import main

from tests.contracts.builders import health_signal

HEALTH = "esper.telemetry.HealthSignal"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_shows_every_event_with_its_version_and_fingerprint(capsys):
    code, out, _ = run(capsys, "schemas", "list")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith(HEALTH))
    current = codec.default_codec().store.current(HEALTH)
    assert line.split() == [HEALTH, current.label, current.fingerprint_hex, str(current.version)]
    assert len(out.splitlines()) == 2 + 15


def test_show_prints_a_self_contained_schema(capsys):
    code, out, _ = run(capsys, "schemas", "show", "HealthSignal")
    schema = json.loads(out)
    assert code == 0 and schema["name"] == HEALTH
    assert schema["fields"][0]["type"]["name"] == "esper.common.EventMeta"  # inlined
    code, out, _ = run(capsys, "schemas", "show", HEALTH, "--version", "1")
    assert code == 0 and json.loads(out)["name"] == HEALTH
    code, out, _ = run(capsys, "schemas", "show", "SeedState")
    assert json.loads(out)["symbols"][0] == "dormant"


def test_show_explains_what_it_cannot_find(capsys):
    assert run(capsys, "schemas", "show", "Nothing")[2] == "esper: error: no schema named Nothing\n"
    code, _, err = run(capsys, "schemas", "show", "HealthSignal", "--version", "9")
    assert code == 1 and "has no released version 9 (released: [1, 2])" in err


def test_check_passes_on_the_repository(capsys):
    code, out, _ = run(capsys, "schemas", "check")
    assert code == 0 and out.startswith("ok: 15 events")


def test_check_fails_on_a_breaking_change_and_names_the_field(capsys, schema_dir, edit_schema):
    edit_schema(HEALTH, lambda s: s["fields"].append({"name": "temperature", "type": "double", "doc": "C"}))
    code, _, err = run(capsys, "schemas", "check", "--dir", str(schema_dir))
    assert code == 1
    assert "esper.telemetry.HealthSignal.temperature: new field without a default" in err
    assert "esper: error: 2 incompatible change(s)" in err  # one per released version
    code, _, err = run(capsys, "schemas", "release", "--dir", str(schema_dir))
    assert code == 1 and "refusing to release" in err


def test_a_compatible_change_must_be_released_before_check_passes(capsys, schema_dir, edit_schema):
    field = {"name": "temperature", "type": "double", "default": 0.0, "doc": "C"}
    edit_schema(HEALTH, lambda s: s["fields"].append(field))
    code, _, err = run(capsys, "schemas", "check", "--dir", str(schema_dir))
    assert code == 1 and f"compatible but not released: {HEALTH}" in err
    code, out, _ = run(capsys, "schemas", "release", "--dir", str(schema_dir))
    assert code == 0 and f"history/{HEALTH}/v3-" in out and "released 1 schema version(s)" in out
    assert run(capsys, "schemas", "check", "--dir", str(schema_dir))[0] == 0


def test_decode_reads_a_file(capsys, tmp_path):
    signal = health_signal()
    path = tmp_path / "value.bin"
    path.write_bytes(codec.encode(signal))
    code, out, _ = run(capsys, "decode", str(path))
    document = json.loads(out)
    assert code == 0
    assert (document["type"], document["writer_version"]) == (HEALTH, "v2")
    assert document["event"] == json.loads(signal.model_dump_json())


def test_decode_reads_hex_from_stdin(capsys, monkeypatch):
    signal = health_signal()
    stdin = io.TextIOWrapper(io.BytesIO(codec.encode(signal).hex().encode() + b"\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, _ = run(capsys, "decode", "--hex")
    assert code == 0 and json.loads(out)["event"]["meta"]["event_id"] == signal.meta.event_id


@pytest.mark.parametrize("data, message", [
    (b"garbage", "stdin: starts with 6761, not c301"),
    (b"\xc3\x01" + bytes(8), "no known schema has this fingerprint"),
])  # fmt: skip
def test_decode_reports_why_a_value_is_unreadable(capsys, monkeypatch, data, message):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, _, err = run(capsys, "decode")
    assert code == 1 and message in err

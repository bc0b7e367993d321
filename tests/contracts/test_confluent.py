"""Confluent wire format against a Schema Registry's REST API (served locally by the test)."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastavro import parse_schema, schemaless_writer

from esper import codec
from esper.codec import BadMagic, Codec, ConfluentRegistry, RegistryError, UnknownFingerprint
from esper.contracts import HealthSignal

from tests.contracts.builders import health_signal

HEALTH = "esper.telemetry.HealthSignal"


class FakeRegistry(ThreadingHTTPServer):
    """The two Schema Registry endpoints the codec uses, with the registry's response shapes."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.schemas: list[str] = []
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def register(self, subject: str, schema: str) -> int:
        if schema not in self.schemas:
            self.schemas.append(schema)
        schema_id = self.schemas.index(schema) + 1
        self.subjects.setdefault(subject, []).append(schema_id)
        return schema_id


class _Handler(BaseHTTPRequestHandler):
    server: FakeRegistry

    def do_POST(self) -> None:  # /subjects/<subject>/versions
        self.server.requests.append(f"POST {self.path}")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["schemaType"] == "AVRO"
        subject = self.path.split("/")[2]
        self._reply(200, {"id": self.server.register(subject, body["schema"])})

    def do_GET(self) -> None:  # /schemas/ids/<id>
        self.server.requests.append(f"GET {self.path}")
        schema_id = int(self.path.rsplit("/", 1)[-1])
        if 1 <= schema_id <= len(self.server.schemas):
            self._reply(200, {"schema": self.server.schemas[schema_id - 1]})
        else:
            self._reply(404, {"error_code": 40403, "message": "Schema not found"})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def registry():
    server = FakeRegistry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def confluent(registry) -> Codec:
    return Codec(codec.default_codec().store, registry=ConfluentRegistry(registry.url))


def test_values_are_framed_with_the_registry_id(confluent, registry):
    signal = health_signal()
    value = confluent.encode(signal)
    assert value[0] == 0 and int.from_bytes(value[1:5], "big") == 1
    assert value[5:] == codec.encode(signal)[10:]  # the same Avro body
    assert list(registry.subjects) == [HEALTH]  # RecordNameStrategy
    assert json.loads(registry.schemas[0])["name"] == HEALTH


def test_both_framings_decode(confluent):
    signal = health_signal()
    assert confluent.decode(confluent.encode(signal)) == signal
    assert confluent.decode(codec.encode(signal)) == signal
    assert confluent.decode_batch(confluent.encode_batch([signal, signal])) == [signal, signal]


def test_the_registry_is_asked_once_per_schema(registry):
    signals = [health_signal() for _ in range(5)]
    writer = Codec(codec.default_codec().store, registry=ConfluentRegistry(registry.url))
    reader = Codec(codec.default_codec().store, registry=ConfluentRegistry(registry.url))
    assert reader.decode_batch(writer.encode_batch(signals)) == signals
    assert registry.requests == [f"POST /subjects/{HEALTH}/versions", "GET /schemas/ids/1"]


def test_a_writer_schema_only_the_registry_knows_is_resolved(confluent, registry):
    # Another producer registered a later version with one more field; we still read it.
    schema = json.loads(json.dumps(codec.default_codec().store.current(HEALTH).schema))
    schema["fields"].append({"name": "temperature", "type": "double", "default": 0.0})
    schema_id = registry.register(HEALTH, json.dumps(schema))
    signal = health_signal()
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(schema), signal.model_dump() | {"temperature": 20.5})
    value = b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()
    decoded = confluent.decode(value)
    assert type(decoded) is HealthSignal and decoded == signal


def test_a_schema_of_no_known_event_is_refused(confluent, registry):
    schema_id = registry.register("other", json.dumps({"type": "record", "name": "x.Y", "fields": []}))
    with pytest.raises(UnknownFingerprint, match="x.Y unreleased has no model to decode into"):
        confluent.decode(b"\x00" + schema_id.to_bytes(4, "big"))


def test_an_unknown_id_is_a_registry_error_not_a_poison_value(confluent):
    with pytest.raises(RegistryError, match="HTTP 404: .*Schema not found"):
        confluent.decode(b"\x00\x00\x00\x00\x63" + b"\x00")


def test_an_unreachable_registry_is_a_registry_error(registry):
    url = registry.url
    registry.shutdown()
    registry.server_close()
    unreachable = Codec(codec.default_codec().store, registry=ConfluentRegistry(url, timeout=1))
    with pytest.raises(RegistryError, match=url):
        unreachable.encode(health_signal())


def test_without_a_registry_the_confluent_magic_is_refused():
    with pytest.raises(BadMagic, match="no schema registry is configured"):
        codec.decode(b"\x00\x00\x00\x00\x01\x00")

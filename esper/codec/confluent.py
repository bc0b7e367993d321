"""Confluent Schema Registry framing, for shops that run a registry.

A value is 0x00, the registry's 4-byte big-endian schema id, then the Avro body. Subjects
follow the RecordNameStrategy (the subject is the record's full name), because one topic
carries several event types (``system.events.epoch``), which the default TopicNameStrategy
(one schema per topic) cannot express.

The registry is reached over its REST API with the standard library: two calls, register and
look up by id, both cached, so nothing beyond the first use of a schema touches the network.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from esper.codec.errors import CodecError
from esper.codec.store import SchemaVersion

CONFLUENT_MAGIC = b"\x00"
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(CodecError):
    """The schema registry could not be reached or refused a request.

    Not a DecodeError: the value may be fine, so a consumer should retry, not dead-letter it.
    """


class ConfluentRegistry:
    """Schema ids for our schemas, and schemas for ids, from a Confluent Schema Registry."""

    def __init__(self, url: str, *, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self._timeout = timeout
        self._ids: dict[bytes, int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}

    def schema_id(self, version: SchemaVersion) -> int:
        """The registry id of a schema, registering it under its full name the first time."""
        schema_id = self._ids.get(version.fingerprint)
        if schema_id is None:
            subject = urllib.parse.quote(version.name, safe="")
            text = json.dumps(version.schema, separators=(",", ":"))
            body = {"schemaType": "AVRO", "schema": text}
            schema_id = int(self._request(f"/subjects/{subject}/versions", body)["id"])
            self._ids[version.fingerprint] = schema_id
        return schema_id

    def schema(self, schema_id: int) -> dict[str, Any]:
        """The writer schema registered under ``schema_id``."""
        schema = self._schemas.get(schema_id)
        if schema is None:
            schema = json.loads(self._request(f"/schemas/ids/{schema_id}")["schema"])
            self._schemas[schema_id] = schema
        return schema

    def _request(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": _CONTENT_TYPE, "Accept": _CONTENT_TYPE},
            method="GET" if body is None else "POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:200]
            raise RegistryError(f"{self.url}{path}: HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise RegistryError(f"{self.url}{path}: {error}") from None

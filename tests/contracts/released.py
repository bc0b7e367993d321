"""Values as a producer of an older released schema version wrote them, for evolution tests."""

from __future__ import annotations

import io

from fastavro import parse_schema, schemaless_writer

from esper import codec
from esper.contracts import Event

MAGIC = b"\xc3\x01"


def written_with(event: Event, version: int) -> bytes:
    """``event`` in single-object encoding under released ``version`` of its schema, written by
    fastavro from the history file (not by our codec); fields that version lacks are left out."""
    [released] = [v for v in codec.default_codec().store.released(event.avro_name)
                  if v.version == version]
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(dict(released.schema)), event.model_dump())
    return MAGIC + released.fingerprint + body.getvalue()

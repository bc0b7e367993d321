"""Errors of the codec: each says what went wrong and, when known, with which schema and where."""

from __future__ import annotations


class CodecError(Exception):
    """Base of every codec error."""


class SchemaStoreError(CodecError):
    """``schemas/`` is not a valid, consistent set of schemas (a file, a name, a history entry)."""


class EncodeError(CodecError):
    """A model could not be encoded: no schema for its type, or a value Avro cannot carry."""


class DecodeError(CodecError):
    """A value could not be decoded into an event.

    ``reason`` says why; ``fingerprint`` is the writer schema's fingerprint (hex) when the
    header was readable; ``where`` is the caller's context (the bus passes topic, partition
    and offset); ``index`` is the value's position in a batch.
    """

    def __init__(
        self,
        reason: str,
        *,
        fingerprint: str | None = None,
        where: str | None = None,
        index: int | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.fingerprint = fingerprint
        self.where = where
        self.index = index

    def at(self, where: str | None = None, index: int | None = None) -> DecodeError:
        """A copy of this error located at ``where`` and/or batch position ``index``."""
        # Not copy.copy: it re-calls __init__ with args only, which subclasses with
        # keyword-only fields (InvalidEvent.field) refuse.
        located = Exception.__new__(type(self), *self.args)
        located.__dict__.update(self.__dict__)
        if where is not None:
            located.where = where
        if index is not None:
            located.index = index
        return located

    def __str__(self) -> str:
        place = [self.where] if self.where else []
        if self.index is not None:
            place.append(f"value {self.index}")
        prefix = f"{', '.join(place)}: " if place else ""
        suffix = f" (fingerprint {self.fingerprint})" if self.fingerprint else ""
        return f"{prefix}{self.reason}{suffix}"


class BadMagic(DecodeError):
    """The value does not start with a known framing (0xC3 0x01, or 0x00 with a registry)."""


class UnknownFingerprint(DecodeError):
    """No schema in the store (current or released) has the value's fingerprint."""


class TruncatedValue(DecodeError):
    """The value ends before its header or its body does."""


class TrailingBytes(DecodeError):
    """Bytes are left after the body: the value is not what its header claims."""


class MalformedBody(DecodeError):
    """The body does not parse with its writer schema (bad union index, invalid UTF-8, ...)."""


class InvalidEvent(DecodeError):
    """The body parses but breaks a constraint of the model; ``field`` is the first culprit."""

    def __init__(self, reason: str, *, field: str, **context: object):
        super().__init__(reason, **context)  # type: ignore[arg-type]
        self.field = field

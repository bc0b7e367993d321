"""Models to Avro records: the dicts fastavro writes, taken from validated models without copying.

A validated contract model already holds Avro-ready values (enum values as strings, aware
datetimes, finite floats, bounded ints), so its ``__dict__`` *is* the record; only nested
models need turning into dicts. This is several times faster than ``model_dump()``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

Convert = Callable[[Any], Any]


def record_converter(model: type[BaseModel]) -> Callable[[BaseModel], dict[str, Any]]:
    """A function from an instance of ``model`` to the record fastavro writes for it."""
    nested = [
        (name, convert)
        for name, field in model.model_fields.items()
        if (convert := _converter(field.annotation)) is not None
    ]
    if not nested:
        return _own_dict

    def convert_record(instance: BaseModel) -> dict[str, Any]:
        record = dict(instance.__dict__)
        for name, convert in nested:
            record[name] = convert(record[name])
        return record

    return convert_record


def _own_dict(instance: BaseModel) -> dict[str, Any]:
    return instance.__dict__


def _converter(annotation: Any) -> Convert | None:
    """How to convert a value of ``annotation``; None when it is already Avro-ready."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _converter(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return record_converter(annotation)
    if origin in (typing.Union, types.UnionType):
        branches = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = _converter(branches[0]) if len(branches) == 1 else None
        if inner is None:
            return None
        return lambda value: None if value is None else inner(value)
    if origin is list:
        item = _converter(typing.get_args(annotation)[0])
        return None if item is None else (lambda values: [item(v) for v in values])
    return None

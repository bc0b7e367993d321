"""Contract models from Arrow columns, with pydantic's checks made a column at a time.

pydantic validates a HealthSignal in about 3 µs, 0.1 µs a field, which alone held the bus
under 150k events/s. A plan made from a model's core schema checks every field's constraints
(bounds, finiteness, patterns, lengths, enum values, nulls, whitespace to strip) for a whole
batch with Arrow compute, turns the columns into Python values, builds the rows that passed as
model instances directly (as ``model_construct`` does), and runs the models' own validator
functions on them.

The checks may be stricter than pydantic, never looser: a row that fails one of them, or whose
validator function raises, is left to pydantic, which decides and names the error. So both
ways give equal events and equal errors. A model using anything the plan does not know (other
core-schema kinds or constraints, validators before or around a value or taking ``info``,
custom ``__init__``, post-init, private attributes, aliases, lists) gets no plan.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from esper.codec.column_reader import python_values

# Patterns that RE2 (Arrow) and Rust's regex crate (pydantic) read alike: literals, classes of
# literals and ranges, anchors, groups, alternation and quantifiers. Escapes such as \d, \w or
# \s differ between them (ASCII against Unicode), so a pattern using one gets no plan.
_PORTABLE_PATTERN = re.compile(r"(?:[A-Za-z0-9_:^$.\[\](){}|*+?,-]|\\[.\-])*")

# Anything Rust's str::trim could remove (the White_Space property) is a separator or a control
# character, so a value without one at either end is left unchanged by stripping.
_STRIPPABLE_END = r"^[\pZ\pC]|[\pZ\pC]$"

# The validator function pydantic puts after an enum for ``use_enum_values``.
_ENUM_VALUE = repr(operator.attrgetter("value"))

# An instance is made as ``model_construct`` makes it, by setting BaseModel's four slots,
# but through their descriptors: a quarter faster than object.__setattr__.
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


class _Leaf:
    """A scalar column: ``failures`` says which values pydantic might refuse."""

    def __init__(self, arrow_types: Callable[[pa.DataType], bool]):
        self.accepts = arrow_types

    def failures(self, array: pa.Array) -> pa.Array | None:
        return None

    def values(self, array: pa.Array, failed: np.ndarray) -> list[Any]:
        failures = self.failures(array)
        if failures is not None:
            failed |= failures.fill_null(False).to_numpy(zero_copy_only=False)
        if array.null_count:  # where null is allowed, _Nullable forgives these
            failed |= array.is_null().to_numpy(zero_copy_only=False)
        return python_values(array)


class _Number(_Leaf):
    """An integer or float column, checked with numpy (Arrow compute costs 4x more a call)."""

    _OUTSIDE = {"ge": np.less, "gt": np.less_equal, "le": np.greater, "lt": np.greater_equal}

    def __init__(self, schema: dict[str, Any], config: dict[str, Any], integer: bool):
        super().__init__(pa.types.is_integer if integer else pa.types.is_floating)
        self.kind = np.int64 if integer else np.float64
        self.finite = not integer and not schema.get("allow_inf_nan",
                                                     config.get("allow_inf_nan", True))
        self.bounds = [(self._OUTSIDE[name], schema[name] if integer else float(schema[name]))
                       for name in self._OUTSIDE if name in schema]

    def values(self, array: pa.Array, failed: np.ndarray) -> list[Any]:
        if array.null_count:  # where null is allowed, _Nullable forgives these
            failed |= array.is_null().to_numpy(zero_copy_only=False)
            data = array.fill_null(0).to_numpy()
        else:
            data = array.to_numpy()
        data = data.astype(self.kind, copy=False)  # bounds compare exactly in 64 bits
        if self.kind is np.float64 and (self.finite or self.bounds):
            failed |= ~np.isfinite(data)  # NaN passes no comparison below
        for outside, bound in self.bounds:
            failed |= outside(data, bound)
        return array.to_pylist() if array.null_count else data.tolist()


class _Text(_Leaf):
    """A string column: lengths and patterns, and nothing that stripping would change."""

    def __init__(self, schema: dict[str, Any], config: dict[str, Any]):
        super().__init__(lambda t: pa.types.is_string(t) or pa.types.is_large_string(t))
        self.strip = schema.get("strip_whitespace", config.get("str_strip_whitespace", False))
        self.min_length = schema.get("min_length", config.get("str_min_length"))
        self.max_length = schema.get("max_length", config.get("str_max_length"))
        self.pattern = schema.get("pattern")

    def failures(self, array: pa.Array) -> pa.Array | None:
        checks = []
        if self.strip:
            checks.append(pc.match_substring_regex(array, _STRIPPABLE_END))
        if self.min_length is not None or self.max_length is not None:
            length = pc.utf8_length(array)
            if self.min_length is not None:
                checks.append(pc.less(length, self.min_length))
            if self.max_length is not None:
                checks.append(pc.greater(length, self.max_length))
        if self.pattern is not None:
            checks.append(pc.invert(pc.match_substring_regex(array, self.pattern)))
        return functools.reduce(pc.or_, checks) if checks else None


class _Enum(_Leaf):
    """A string column of enum values, as the enum's members, or as their values where the
    model keeps values (``use_enum_values``: then the column's strings are the result)."""

    def __init__(self, schema: dict[str, Any], as_values: bool = False):
        super().__init__(lambda t: pa.types.is_string(t) or pa.types.is_large_string(t))
        self.members = {member.value: member for member in schema["members"]}
        self.known = pa.array(list(self.members), pa.string())
        self.as_values = as_values

    def values(self, array: pa.Array, failed: np.ndarray) -> list[Any]:
        failed |= pc.invert(pc.is_in(array, value_set=self.known)).fill_null(False).to_numpy(
            zero_copy_only=False)
        if self.as_values:
            return array.to_pylist()
        members = self.members
        return [members.get(value) for value in array.to_pylist()]


class _After:
    """A value with a validator function after it, called on each value still in the running."""

    def __init__(self, inner: Any, function: Callable[[Any], Any]):
        self.inner, self.function = inner, function

    def accepts(self, arrow_type: pa.DataType) -> bool:
        return self.inner.accepts(arrow_type)

    def values(self, array: pa.Array, failed: np.ndarray) -> list[Any]:
        return _after(self.function, self.inner.values(array, failed), failed)


class _Nullable:
    """A column where null is a value: the inner checks judge only the other values."""

    def __init__(self, inner: Any):
        self.inner = inner

    def accepts(self, arrow_type: pa.DataType) -> bool:
        return self.inner.accepts(arrow_type)

    def values(self, array: pa.Array, failed: np.ndarray) -> list[Any]:
        if not array.null_count:
            return self.inner.values(array, failed)
        present = array.is_valid().to_numpy(zero_copy_only=False)
        inner_failed = np.zeros(len(array), bool)
        values = self.inner.values(array, inner_failed)
        failed |= inner_failed & present
        return [value if valid else None for value, valid in zip(values, present.tolist())]


class ModelPlan:
    """How to build instances of ``cls`` from a struct column (or a batch's columns)."""

    def __init__(self, cls: type[BaseModel], fields: dict[str, Any]):
        self.cls = cls
        self.fields = fields
        self._fields_set = frozenset(fields)
        self._dicts = _dict_maker(list(fields))
        self.after: list[Callable[[Any], Any]] = []

    def accepts(self, arrow_type: pa.DataType) -> bool:
        if not pa.types.is_struct(arrow_type):
            return False
        children = {field.name: field.type for field in arrow_type}
        return children.keys() == self.fields.keys() and all(
            node.accepts(children[name]) for name, node in self.fields.items())

    def models(self, batch: pa.RecordBatch) -> tuple[list[Any], list[int]]:
        """Each row as an instance of the model, or None where pydantic must decide; and the
        indexes of those rows."""
        failed = np.zeros(batch.num_rows, bool)
        models = self.values(pa.StructArray.from_arrays(batch.columns, batch.schema.names),
                             failed)
        return models, np.flatnonzero(failed).tolist()

    def values(self, array: pa.StructArray, failed: np.ndarray) -> list[Any]:
        if array.null_count:  # where null is allowed, _Nullable forgives these
            failed |= array.is_null().to_numpy(zero_copy_only=False)
        columns = [node.values(array.field(name), failed) for name, node in self.fields.items()]
        cls, fields_set = self.cls, self._fields_set
        rows: list[Any] = []
        append = rows.append
        for skip, values in zip(failed.tolist(), self._dicts(columns)):
            if skip:
                append(None)
                continue
            instance = _new(cls)
            _set_dict(instance, values)
            _set_fields_set(instance, set(fields_set))
            _set_extra(instance, None)
            _set_private(instance, None)
            append(instance)
        for function in self.after:
            rows = _after(function, rows, failed)
        return rows


def _dict_maker(names: list[str]) -> Callable[[list[list[Any]]], list[dict[str, Any]]]:
    """A function from columns to the rows' dicts, keyed by ``names``.

    Generated, because a dict display with constant keys is built in one step: half the cost of
    ``dict(zip(names, row))``, which was the larger part of making a model.
    """
    variables = ", ".join(f"v{index}" for index in range(len(names)))
    entries = ", ".join(f"{name!r}: v{index}" for index, name in enumerate(names))
    namespace: dict[str, Any] = {}
    exec(f"def dicts(columns):\n    return [{{{entries}}} for {variables} in zip(*columns)]\n",
         namespace)
    return namespace["dicts"]


def _after(function: Callable[[Any], Any], values: list[Any], failed: np.ndarray) -> list[Any]:
    """``function`` of each value whose row has not failed; a row whose call raises fails, and
    its value becomes None."""
    if not failed.any():
        try:
            return [function(value) for value in values]
        except Exception:
            pass  # some value fails: the loop below finds which
    results = list(values)
    for index in np.flatnonzero(~failed).tolist():
        try:
            results[index] = function(values[index])
        except Exception:
            failed[index] = True
            results[index] = None
    return results


@functools.cache
def plan(model: type[BaseModel], schema: pa.Schema) -> ModelPlan | None:
    """How to build ``model`` from batches of ``schema``, or None where only pydantic can."""
    try:
        node = _node(model.__pydantic_core_schema__, {})
    except _Unsupported:
        return None
    if not isinstance(node, ModelPlan) or node.cls is not model:
        return None
    if not node.accepts(pa.struct(list(schema))):
        return None
    return node


class _Unsupported(Exception):
    pass


def _node(schema: dict[str, Any], config: dict[str, Any]) -> Any:
    kind = schema["type"]
    if kind == "model":
        return _model(schema)
    if kind == "function-after":
        function = schema["function"]
        if function["type"] != "no-info":
            raise _Unsupported(kind)
        inner = _node(schema["schema"], config)
        if isinstance(inner, _Enum) and repr(function["function"]) == _ENUM_VALUE:
            return _Enum(schema["schema"], as_values=True)
        if isinstance(inner, ModelPlan):  # a model validator: runs on the built instance
            inner.after.append(function["function"])
            return inner
        return _After(inner, function["function"])
    if kind == "default":
        return _node(schema["schema"], config)
    if kind == "nullable":
        return _Nullable(_node(schema["schema"], config))
    if kind == "bool" and not _constrained(schema, set()):
        return _Leaf(pa.types.is_boolean)
    if kind in ("int", "float") and not _constrained(schema, {"ge", "gt", "le", "lt",
                                                              "allow_inf_nan"}):
        if not all(_exact_bound(schema[name], kind) for name in ("ge", "gt", "le", "lt")
                   if name in schema):
            raise _Unsupported(f"{kind} bound")
        return _Number(schema, config, integer=kind == "int")
    if kind == "str" and not _constrained(schema, {"pattern", "min_length", "max_length",
                                                   "strip_whitespace"}):
        if config.get("str_to_lower") or config.get("str_to_upper") or config.get(
                "regex_engine", "rust-regex") != "rust-regex":
            raise _Unsupported("str config")
        if "pattern" in schema and not _PORTABLE_PATTERN.fullmatch(schema["pattern"]):
            raise _Unsupported(f"pattern {schema['pattern']}")
        return _Text(schema, config)
    if kind == "datetime" and not _constrained(schema, {"tz_constraint", "microseconds_precision"}
                                               ) and schema.get("tz_constraint") in (None, "aware"):
        # The column reader makes aware UTC datetimes of timestamp columns, so "aware" holds.
        return _Leaf(lambda t: pa.types.is_timestamp(t) and t.tz == "UTC")
    if kind == "enum" and schema.get("sub_type") == "str" and not _constrained(
            schema, {"sub_type", "members", "cls", "missing"}):
        return _Enum(schema)
    raise _Unsupported(kind)


def _model(schema: dict[str, Any]) -> ModelPlan:
    cls = schema["cls"]
    if (schema.get("custom_init") or schema.get("root_model") or schema.get("post_init")
            or cls.__private_attributes__ or cls.model_config.get("extra") == "allow"
            or schema.get("config", {}).get("strict")):  # a strict enum refuses its values
        raise _Unsupported(f"model {cls.__name__}")
    fields_schema = schema["schema"]
    if fields_schema["type"] != "model-fields" or fields_schema.get("computed_fields"):
        raise _Unsupported(f"model {cls.__name__}")
    config = schema.get("config", {})
    fields = {}
    for name, field in fields_schema["fields"].items():
        if field.get("validation_alias") is not None or field.get("serialization_alias"):
            raise _Unsupported(f"alias on {name}")
        fields[name] = _node(field["schema"], config)
    return ModelPlan(cls, fields)


_ALWAYS_ALLOWED = {"type", "metadata", "ref", "serialization"}


def _constrained(schema: dict[str, Any], understood: set[str]) -> bool:
    """Whether ``schema`` has a key (a constraint) that the plan does not check."""
    return bool(schema.keys() - _ALWAYS_ALLOWED - understood)


def _exact_bound(bound: Any, kind: str) -> bool:
    # Bounds are compared with 64-bit numpy values: they must convert to them exactly.
    if kind == "int":
        return type(bound) is int and -(2**63) <= bound < 2**63
    return isinstance(bound, (int, float)) and math.isfinite(bound) and float(bound) == bound

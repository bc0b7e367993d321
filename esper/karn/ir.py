"""The blueprint IR: a kind from the catalogue, its typed parameters and an init seed, versioned.

On the wire an IR is a Blueprint's ``architecture``: one ArchitectureLayer holding the kind
and its parameters, and the attributes ``ir_version`` and ``seed``. Its content hash covers
all of it after defaults are filled in, so two requests for the same design hash the same
however they were written, and the blueprint id is derived from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from esper.contracts import (
    Architecture,
    ArchitectureLayer,
    Blueprint,
    BlueprintSubmitted,
    ComponentType,
    EventMeta,
    KernelShape,
)
from esper.karn.catalogue import get_kind
from esper.karn.kinds import BlueprintError, Kind, Scalar

IR_VERSION = 1
_ATTRIBUTES = frozenset({"ir_version", "seed"})
_MAX_SEED = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class BlueprintIR:
    """A checked blueprint design; build one with ``BlueprintIR.of`` or ``from_architecture``."""

    kind: str
    params: Mapping[str, Scalar]
    seed: int = 0
    version: int = IR_VERSION

    @classmethod
    def of(cls, kind: str, params: Mapping[str, object] | None = None,
           seed: int = 0) -> BlueprintIR:
        """The IR of ``kind`` with ``params`` (the rest at their defaults), checked."""
        if type(seed) is not int or not 0 <= seed <= _MAX_SEED:
            raise BlueprintError(f"seed must be an integer in [0, 2**63), got {seed!r}")
        return cls(kind, get_kind(kind).check_params(params or {}), seed)

    @classmethod
    def parse(cls, kind: str, assignments: Iterable[str], seed: int = 0) -> BlueprintIR:
        """The IR from command-line ``name=value`` assignments."""
        definition = get_kind(kind)
        given: dict[str, Scalar] = {}
        for assignment in assignments:
            name, equals, text = assignment.partition("=")
            if not equals or not name.strip():
                raise BlueprintError(f"parameter {assignment!r} is not of the form name=value")
            given[name.strip()] = definition.param(name.strip()).parse(text)
        return cls.of(kind, given, seed)

    @classmethod
    def from_architecture(cls, architecture: Architecture) -> BlueprintIR:
        """The IR a blueprint's architecture carries, or BlueprintError saying what is wrong."""
        if len(architecture.layers) != 1:
            raise BlueprintError(f"a blueprint architecture has exactly one layer, this one has "
                                 f"{len(architecture.layers)}")
        attributes = architecture.attributes
        unknown = set(attributes) - _ATTRIBUTES
        if unknown:
            raise BlueprintError(f"unknown architecture attributes {sorted(unknown)}; "
                                 f"known: {sorted(_ATTRIBUTES)}")
        version = attributes.get("ir_version")
        if version != IR_VERSION:
            raise BlueprintError(f"architecture ir_version is {version!r}; this compiler reads "
                                 f"version {IR_VERSION}")
        layer = architecture.layers[0]
        return cls.of(layer.kind, layer.params, attributes.get("seed", 0))

    @property
    def definition(self) -> Kind:
        return get_kind(self.kind)

    def canonical(self) -> dict[str, Any]:
        return {"ir_version": self.version, "kind": self.kind, "params": dict(self.params),
                "seed": self.seed}

    @property
    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON form: sorted keys, no whitespace."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def blueprint_id(self) -> str:
        """``<kind>-<24 hex digits of the content hash>``: the same design, the same id."""
        return f"{self.kind}-{self.content_hash[:24]}"

    def label(self) -> str:
        """A short readable name: ``lora(rank=8)``, ``lora(rank=8) seed 3``."""
        params = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind}({params})" + (f" seed {self.seed}" if self.seed else "")

    def architecture(self) -> Architecture:
        return Architecture(layers=[ArchitectureLayer(kind=self.kind, params=dict(self.params))],
                            attributes={"ir_version": self.version, "seed": self.seed})

    def submission(self, submitted_by: str = "karn",
                   target_shapes: Iterable[KernelShape] = ()) -> BlueprintSubmitted:
        """The event that submits this design for compilation, and for precompiling for the
        layer shapes ``target_shapes``."""
        return BlueprintSubmitted(meta=EventMeta.new(ComponentType.KARN),
                                  blueprint_id=self.blueprint_id, submitted_by=submitted_by,
                                  blueprint=self.blueprint(submitted_by),
                                  target_shapes=list(target_shapes))

    def blueprint(self, created_by: str = "karn") -> Blueprint:
        """This design as a proposed Blueprint, with its content-derived id."""
        definition = self.definition
        forms = "; ".join(f"{layout.value}: {form}" for layout, form in definition.forms.items())
        return Blueprint(blueprint_id=self.blueprint_id, name=self.label()[:255],
                         description=f"{definition.summary}. {forms}"[:1000],
                         architecture=self.architecture(), created_by=created_by)

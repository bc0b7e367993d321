"""`esper blueprints list|submit`: Karn's catalogue, and submitting a design to Tezzeret."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from esper.cli import CommandError
from esper.cli.table import print_table
from esper.contracts import KernelShape
from esper.karn import KINDS, BlueprintError, BlueprintIR, get_kind


def register(subparsers) -> None:
    blueprints = subparsers.add_parser("blueprints", help="the blueprint catalogue")
    commands = blueprints.add_subparsers(dest="blueprints_command", required=True,
                                         metavar="ACTION")
    listing = commands.add_parser("list", help="every kind, where it applies, its parameters")
    listing.add_argument("kind", nargs="?", help="one kind: each parameter with its range")
    listing.add_argument("--submitted", action="store_true",
                         help="the blueprints submitted so far, with their state and kernels "
                              "(Urza's library, from the projection)")
    listing.add_argument("--state", default=None, help="with --submitted: only this state")
    listing.add_argument("--db", default=None, help="with --submitted: this projection file")
    listing.set_defaults(func=_list)
    submit = commands.add_parser(
        "submit", help="publish a BlueprintSubmitted to compilation.blueprint.submitted",
        description="Publish a design of KIND; its id is derived from its content, so "
                    "submitting the same design twice names the same blueprint.")
    submit.add_argument("kind", help="a kind from `esper blueprints list`")
    submit.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of the kind (repeatable); the rest keep defaults")
    submit.add_argument("--seed", type=int, default=0, help="weight-initialization seed")
    submit.add_argument("--by", default="karn", help="who submits it (default: karn)")
    submit.add_argument("--shape", action="append", default=[], type=kernel_shape,
                        metavar="IN[:OUT]",
                        help="a layer shape for Tezzeret to compile the blueprint for at once "
                             "(repeatable): input and output dimensions without the batch "
                             "dimension, comma-separated, e.g. 128:10 or 64,8,8; OUT defaults "
                             "to IN")
    submit.set_defaults(func=_submit)


def kernel_shape(text: str) -> KernelShape:
    """``IN[:OUT]`` as a KernelShape, for ``--shape``."""
    input_text, colon, output_text = text.partition(":")
    try:
        input_shape = _dimensions(input_text)
        output_shape = _dimensions(output_text) if colon else input_shape
        return KernelShape(input_shape=input_shape, output_shape=output_shape)
    except ValidationError as error:  # a dimension beyond a 64-bit long
        raise argparse.ArgumentTypeError(f"{text!r}: {_problem(error.errors()[0])}") from None
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def _dimensions(text: str) -> list[int]:
    dims = [part.strip() for part in text.split(",")]
    if not all(part.isascii() and part.isdigit() and int(part) >= 1 for part in dims):
        raise ValueError("dimensions are whole numbers from 1, separated by commas "
                         "(IN[:OUT], without the batch dimension)")
    return [int(part) for part in dims]


def _list(args: argparse.Namespace) -> int:
    if args.submitted:
        return _submitted(args)
    if args.kind:
        return _describe(args.kind)
    print_table(["kind", "applies to", "parameters", "what it is"],
                [[kind.name, ", ".join(layout.value for layout in kind.forms),
                  " ".join(f"{p.name}={str(p.default).lower() if p.type is bool else p.default}"
                           for p in kind.params), kind.summary]
                 for kind in KINDS])
    return 0


def _submitted(args: argparse.Namespace) -> int:
    from esper.cli.sql import print_arrow, quoted, read

    where = f"WHERE b.state = {quoted(args.state)}" if args.state else ""
    print_arrow(read(f"""
        SELECT b.blueprint_id, b.name, b.state, b.submitted_by, b.updated_at,
               count(k.kernel_id) AS kernels, b.last_reason
        FROM blueprints b LEFT JOIN kernels k USING (blueprint_id)
        {where}
        GROUP BY ALL ORDER BY b.updated_at DESC""", args.db))
    return 0


def _describe(name: str) -> int:
    try:
        kind = get_kind(name)
    except BlueprintError as error:
        raise CommandError(str(error)) from None
    print(f"{kind.name}: {kind.summary}")
    print_table(["layout", "shape", "module"],
                [[layout.value, layout.dims, form] for layout, form in kind.forms.items()])
    for param in kind.params:
        print(f"  {param.describe()}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from esper.bus.producer import DeliveryError, EventProducer  # only submit needs Kafka

    try:
        ir = BlueprintIR.parse(args.kind, args.param, args.seed)
        event = ir.submission(args.by, args.shape)
    except ValidationError as error:
        raise CommandError("; ".join(_problem(problem) for problem in error.errors())) from None
    except (BlueprintError, ValueError) as error:
        raise CommandError(str(error)) from None
    try:
        with EventProducer() as producer:
            producer.send(event)
    except DeliveryError as error:
        raise CommandError(f"{ir.blueprint_id} was not published ({error}); "
                           "`esper topics create` makes the topics") from None
    print(f"submitted {ir.label()} as {ir.blueprint_id}")
    if event.target_shapes:
        print(f"Tezzeret compiles it for {len(event.target_shapes)} shape(s); kernels appear on "
              "compilation.kernel.ready")
    return 0


def _problem(problem) -> str:
    """One pydantic error as ``field: message`` (--shape values are ``target_shapes``)."""
    where = ".".join(str(part) for part in problem["loc"])
    message = problem["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message

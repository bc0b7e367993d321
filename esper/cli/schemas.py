"""`esper schemas list|show|check|release` and `esper decode`: the wire contract at hand."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from esper.cli import CommandError
from esper.cli.table import print_table
from esper.codec import (
    SCHEMA_REGISTRY_URL_ENV,
    Codec,
    CodecError,
    ConfluentRegistry,
    SchemaStore,
)
from esper.codec.evolution import backward_transitive_problems, release, unreleased
from esper.contracts import EVENT_MODELS


def register(subparsers) -> None:
    schemas = subparsers.add_parser(
        "schemas", help="list, show and check the Avro schemas of the events"
    )
    commands = schemas.add_subparsers(dest="schemas_command", required=True, metavar="ACTION")

    listing = commands.add_parser("list", help="every event: its current version and fingerprint")
    listing.set_defaults(func=_list)
    show = commands.add_parser("show", help="one schema as JSON, with every type it uses inline")
    show.add_argument(
        "name", help="full or short name: esper.telemetry.HealthSignal or HealthSignal"
    )
    show.add_argument("--version", type=int, help="a released version instead of the current one")
    show.set_defaults(func=_show)
    check = commands.add_parser(
        "check",
        help="fail unless every current schema is released and reads every released version "
        "(BACKWARD_TRANSITIVE)",
    )
    check.set_defaults(func=_check)
    freeze = commands.add_parser("release", help="freeze changed schemas as their next versions")
    freeze.set_defaults(func=_release)
    for command in (listing, show, check, freeze):
        _add_dir_option(command)

    decode = subparsers.add_parser(
        "decode", help="decode one record value (bytes) to JSON, for debugging"
    )
    decode.add_argument(
        "file", nargs="?", type=Path, help="file holding the value (default: stdin)"
    )
    decode.add_argument("--hex", action="store_true", help="the input is hex text, not raw bytes")
    decode.add_argument(
        "--registry",
        default=os.environ.get(SCHEMA_REGISTRY_URL_ENV),
        help=f"Schema Registry URL, for Confluent framing (default: ${SCHEMA_REGISTRY_URL_ENV})",
    )
    _add_dir_option(decode)
    decode.set_defaults(func=_decode)


def _add_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", type=Path, help="schema directory (default: schemas/, or $ESPER_SCHEMAS_DIR)"
    )


def _store(args: argparse.Namespace) -> SchemaStore:
    try:
        return SchemaStore.load(EVENT_MODELS, args.dir)
    except CodecError as error:
        raise CommandError(str(error)) from None


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = []
    for name in store.names():
        current = store.current(name)
        rows.append([name, current.label, current.fingerprint_hex, len(store.released(name))])
    print_table(["event", "current", "fingerprint", "released"], rows)
    return 0


def _show(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        name = store.resolve_name(args.name)
        if args.version is not None:
            versions = {v.version: v for v in store.released(name)}
            if args.version not in versions:
                raise CommandError(
                    f"{name} has no released version {args.version} (released: {sorted(versions)})"
                )
            schema = versions[args.version].schema
        elif name in store.names():
            schema = store.current(name).schema
        else:
            schema = store.named_type(name)
    except CodecError as error:
        raise CommandError(str(error)) from None
    print(json.dumps(schema, indent=2, ensure_ascii=False))
    return 0


def _check(args: argparse.Namespace) -> int:
    store = _store(args)
    problems = backward_transitive_problems(store)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        raise CommandError(f"{len(problems)} incompatible change(s): old events would not decode")
    pending = unreleased(store)
    if pending:
        # Values written with an unreleased schema become unreadable after its next edit.
        raise CommandError(
            f"compatible but not released: {', '.join(v.name for v in pending)}; "
            "run 'esper schemas release' and commit schemas/history"
        )
    released = sum(len(store.released(name)) for name in store.released_names())
    events = len(store.names())
    print(f"ok: {events} events, each reads all its released versions ({released} in all)")
    return 0


def _release(args: argparse.Namespace) -> int:
    try:
        written = release(_store(args))
    except CodecError as error:
        raise CommandError(str(error)) from None
    for path in written:
        print(path)
    print(f"released {len(written)} schema version(s)")
    return 0


def _decode(args: argparse.Namespace) -> int:
    data = args.file.read_bytes() if args.file else sys.stdin.buffer.read()
    if args.hex:
        try:
            data = bytes.fromhex(data.decode("ascii"))
        except ValueError as error:
            raise CommandError(f"not hex: {error}") from None
    registry = ConfluentRegistry(args.registry) if args.registry else None
    codec = Codec(_store(args), registry=registry)
    try:
        event = codec.decode(data, where=str(args.file) if args.file else "stdin")
        writer = codec.writer_schema_of(data)
    except CodecError as error:
        raise CommandError(str(error)) from None
    document = {
        "type": writer.name,
        "writer_version": writer.label,
        "fingerprint": writer.fingerprint_hex,
        "event": event.model_dump(mode="json"),
    }
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0

"""`esper replay` and `esper tail`: decoded events out of the log, bounded or live."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from esper.bus import replay
from esper.bus.records import Delivered, Poison
from esper.bus.topics import CATALOGUE
from esper.cli import CommandError
from esper.cli.options import parse_moment, parse_position


def register(subparsers) -> None:
    replayer = subparsers.add_parser(
        "replay", help="write events of some topics, from a start to a bound, as JSON lines "
                       "or an Avro container file")
    replayer.add_argument("--topics", nargs="+", default=None, metavar="TOPIC",
                          help="topics to read (default: every event topic of the catalogue)")
    replayer.add_argument("--from", dest="start", default="beginning",
                          help="'beginning' (default), an ISO time, a duration ago (10m), or "
                               "topic:partition:offset,...")
    replayer.add_argument("--until", default=None,
                          help="an ISO time or topic:partition:offset,... (exclusive); default: "
                               "the end of each partition when the replay starts")
    replayer.add_argument("--run", default=None, help="only events of this run id")
    replayer.add_argument("--into", default=None, metavar="PATH.duckdb",
                          help="build a fresh projection file instead (the state as of --until)")
    replayer.add_argument("--format", choices=("jsonl", "avro"), default="jsonl")
    replayer.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    replayer.set_defaults(func=_replay)

    tail = subparsers.add_parser(
        "tail", help="print decoded events, one per line; new ones as they arrive with --follow")
    tail.add_argument("topics", nargs="+", metavar="TOPIC")
    start = tail.add_mutually_exclusive_group()
    start.add_argument("--from-beginning", action="store_true")
    start.add_argument("--since", default=None, help="a duration ago (10m) or an ISO time")
    tail.add_argument("--follow", "-f", action="store_true",
                      help="keep printing new events (implied without --from-beginning/--since)")
    tail.add_argument("--run", default=None, help="only events of this run id")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.set_defaults(func=_tail)


def _checked(records):
    """Events only: undecodable records are reported on stderr, with where and why; a
    missing topic (found when the replay is planned) becomes a one-line error."""
    try:
        for record in records:
            if isinstance(record, Poison):
                print(f"esper: skipped undecodable record {record.where}: {record.error}",
                      file=sys.stderr)
            else:
                yield record
    except replay.NoSuchTopic as error:
        raise CommandError(str(error)) from None


def record_json(record: Delivered) -> dict:
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": _iso(record.timestamp_ms),
        "key": record.key.decode(errors="replace") if record.key is not None else None,
        "type": type(record.event).__name__,
        "event": record.event.model_dump(mode="json"),
    }


def _iso(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def _replay(args: argparse.Namespace) -> int:
    topics = args.topics or [spec.name for spec in CATALOGUE if spec.event_types]
    try:
        start = parse_position(args.start)
        until = parse_position(args.until) if args.until else None
    except ValueError as error:
        raise CommandError(str(error)) from None
    if args.into:
        if args.topics or args.start != "beginning":
            raise CommandError("--into projects every topic from the beginning: "
                               "drop --topics and --from")
        return _replay_into(Path(args.into), until, args.run)
    records = _checked(replay.read(topics, start, until, run=args.run, include_poison=True))
    if args.format == "avro":
        from esper.bus.archive import write_avro_archive

        if args.output == "-":
            count = write_avro_archive(sys.stdout.buffer, records)
        else:
            with open(args.output, "wb") as out:
                count = write_avro_archive(out, records)
    else:
        out = sys.stdout if args.output == "-" else open(args.output, "w")
        count = 0
        try:
            for record in records:
                out.write(json.dumps(record_json(record), separators=(",", ":")) + "\n")
                count += 1
        finally:
            if out is not sys.stdout:
                out.close()
    print(f"replayed {count} event(s) from {', '.join(topics)}", file=sys.stderr)
    return 0


def _replay_into(path: Path, until, run: str | None) -> int:
    from consumers.projector import project
    from esper.config import kafka_bootstrap
    from esper.projections.projector import Projector

    if path.exists():
        raise CommandError(f"{path} exists; --into builds a fresh projection file")
    started = time.monotonic()
    projector = Projector(path)

    def progress(projected: int) -> None:
        rate = projected / max(time.monotonic() - started, 1e-9)
        print(f"\rprojected {projected:,} records ({rate:,.0f}/s)", end="", file=sys.stderr)

    try:
        count = project(projector, kafka_bootstrap(), until=until, run=run, on_batch=progress)
    finally:
        projector.close()
    print(f"\rprojected {count:,} records into {path} in {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    return 0


def _tail(args: argparse.Namespace) -> int:
    topics = args.topics
    if args.from_beginning:
        start, follow = None, args.follow
    elif args.since:
        try:
            start = parse_moment(args.since)
        except ValueError as error:
            raise CommandError(str(error)) from None
        follow = args.follow
    else:
        start, follow = datetime.now(timezone.utc), True
    for record in _checked(replay.read(topics, start, run=args.run, follow=follow,
                                       include_poison=True)):
        print(json.dumps(record_json(record), separators=(",", ":")) if args.json
              else human_line(record), flush=True)
    return 0


def human_line(record: Delivered) -> str:
    fields = record.event.model_dump(mode="json", exclude={"meta"})
    run = record.event.meta.run_id
    body = " ".join(f"{k}={_short(v)}" for k, v in fields.items())
    return (f"{_iso(record.timestamp_ms)} {record.topic}[{record.partition}]@{record.offset} "
            f"{type(record.event).__name__}{f' run={run}' if run else ''} {body}")


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)

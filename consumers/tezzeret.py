"""`esper run tezzeret`: the compiler as a stream processor, exactly once, in a consumer group.

It consumes blueprints (compiling each for the target shapes its submission names),
decisions and the epoch stream (for each run's TrainingRunStarted, which carries the layer
shapes) and produces Tezzeret's events in Kafka transactions, each holding a batch's output
and its consumed offsets. Decisions and epochs are both keyed by
run id and have the same partition count, so the instance that owns a decision's partition
also sees that run's TrainingRunStarted; what an instance has not seen (a restart resumes
after it, a rebalance hands over a partition) it reads back from the log on demand.

Several instances share the work by running with the same --group and distinct --instance
names. An instance restarted under its name fences its predecessor (the transactional id) and
takes its partitions back at once (static group membership), so a process killed mid-compile
leaves no output behind and its successor compiles the batch again, finding in the artifact
store whatever the dead one had finished.

Kafka and the artifact store are found as everywhere in Esper: ESPER_KAFKA_BOOTSTRAP,
ESPER_ARTIFACTS and ESPER_S3_ENDPOINT (see ``esper.config`` and ``esper.artifacts``).
"""

from __future__ import annotations

import argparse
import logging
import socket

import torch

from esper.artifacts import open_store
from esper.bus import replay
from esper.bus.processor import TransactionalProcessor
from esper.bus.topics import BLUEPRINTS, DECISIONS, EPOCHS
from esper.cli import CommandError
from esper.contracts import BlueprintSubmitted, HostTopology, TrainingRunStarted
from esper.karn import BlueprintError, BlueprintIR
from esper.tezzeret.books import BlueprintBook, RunBook
from esper.tezzeret.compiler import Compiler
from esper.tezzeret.service import Tezzeret, design_of

log = logging.getLogger("tezzeret")

# A transaction must commit within the producer's transaction timeout (60 s by default);
# a cold compile takes up to a few seconds, so a batch holds at most this many records. A
# submission compiles up to MAX_TARGET_SHAPES (8) kernels, most of them in well under a second.
BATCH_SIZE = 8


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="esper run tezzeret",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default=socket.gethostname(),
                        help="this instance's name, stable across its restarts "
                             "(default: the host name)")
    parser.add_argument("--group", default="tezzeret", help="consumer group (default: tezzeret)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for validation and timing (default 1: reproducible)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper)
    return parser


def blueprint_in_log(blueprint_id: str) -> BlueprintIR | None:
    """The design submitted as ``blueprint_id`` to compilation.blueprint.submitted, if any."""
    for record in replay.read([BLUEPRINTS.name]):
        event = record.event
        if isinstance(event, BlueprintSubmitted) and event.blueprint_id == blueprint_id:
            try:
                return design_of(event)
            except BlueprintError:
                return None
    return None


def topology_in_log(run_id: str) -> HostTopology | None:
    """The host topology of run ``run_id`` from its TrainingRunStarted, if any."""
    for record in replay.read([EPOCHS.name], run=run_id):
        if isinstance(record.event, TrainingRunStarted):
            return record.event.topology
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format=f"%(asctime)s tezzeret[{args.instance}] %(levelname)s %(message)s")
    torch.set_num_threads(args.threads)
    try:
        store = open_store()
    except ValueError as error:
        raise CommandError(str(error)) from None
    tezzeret = Tezzeret(Compiler(store), BlueprintBook(blueprint_in_log),
                        RunBook(topology_in_log))
    processor = TransactionalProcessor(
        [BLUEPRINTS.name, DECISIONS.name, EPOCHS.name], args.group,
        f"{args.group}-{args.instance}", lambda record: tezzeret.handle(record.event),
        batch_size=BATCH_SIZE,
        **{"group.instance.id": args.instance})
    log.info("consuming %s as %s in group %s; artifacts in %r",
             ", ".join(processor.topics), args.instance, args.group, store)
    stats = processor.run()
    log.info("stopped after %d events, %d dead letters", stats.events, stats.dead_letters)
    return 0

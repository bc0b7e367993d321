"""`esper demo`: the whole system, for real, on one machine.

Brings Kafka up, creates the topics, starts the projector (with its SQL server and dashboard),
Tamiyo and Tezzeret as supervised children, submits Karn's catalogue, then trains an
under-sized MLP on digits twice: without adaptation (the baseline) and with it. The summary
at the end is read from the projection with SQL.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid

from esper.bus.admin import create_topics
from esper.bus.producer import EventProducer
from esper.cli import CommandError
from esper.cli.sql import print_arrow, quoted
from esper.config import esper_home, kafka_bootstrap, kafka_port
from esper.infra.kafka import InfraError, LocalKafka
from esper.contracts import KernelShape
from esper.karn import KINDS, BlueprintIR, ShapeNotSupported
from esper.projections.client import query, running_server, wait_caught_up
from esper.supervisor import Supervisor

PROCESSES = ("projector", "tezzeret", "tamiyo")
# The heuristic's confidence on a small host rarely reaches Tamiyo's default floor of 0.6;
# a demo that shows growth lowers it (every decision still records its confidence).
TAMIYO_OPTIONS = ("--min-confidence", "0.3")


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="run the whole system on digits and summarise it")
    demo.add_argument("--epochs", type=int, default=45)
    demo.add_argument("--batch-size", type=int, default=16,
                      help="small batches: more steps per epoch, so seeds have time to grow")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--keep", action="store_true",
                      help="leave the broker and processes running; print the dashboard address")
    demo.set_defaults(func=_demo)


def _say(message: str) -> None:
    print(f"\n== {message}", flush=True)


def _ensure_broker() -> str:
    if os.environ.get("ESPER_KAFKA_BOOTSTRAP"):
        return kafka_bootstrap()
    try:
        return LocalKafka(esper_home()).up(port=kafka_port())
    except InfraError as error:
        raise CommandError(str(error)) from None


def host_shapes(model: str = "mlp", undersized: bool = True, seed: int = 0) -> list[KernelShape]:
    """The (input, output) shapes of the layers `esper train` will wrap in this host."""
    from esper.kasmina import wrap
    from esper.tolaria import build_host, load_dataset

    data = load_dataset("digits", seed=seed)
    host = wrap(build_host(model, data, undersized=undersized))
    host.measure(data.train.x[:2])
    return [KernelShape(input_shape=list(layer.input_shape), output_shape=list(layer.output_shape))
            for layer in host.execution_order]


def submit_catalogue(bootstrap: str, shapes: list[KernelShape] = ()) -> list[str]:
    """Every kind of Karn's catalogue, with default parameters, as BlueprintSubmitted, asking
    Tezzeret to precompile each for the ``shapes`` it fits: a later decision is a cache hit."""
    designs = [BlueprintIR.of(kind.name) for kind in KINDS]
    with EventProducer(bootstrap) as producer:
        producer.send_batch([design.submission("karn", [s for s in shapes if _fits(design, s)])
                             for design in designs])
    return [design.blueprint_id for design in designs]


def _fits(design: BlueprintIR, shape: KernelShape) -> bool:
    try:
        design.definition.check_shapes(shape.input_shape, shape.output_shape, design.params)
    except ShapeNotSupported:
        return False
    return True


def _train(run_id: str, args: argparse.Namespace, adaptation: bool, env: dict) -> None:
    argv = [sys.executable, "-m", "esper", "train", "--dataset", "digits", "--model", "mlp",
            "--undersized", "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
            "--seed", str(args.seed), "--run-id", run_id]
    if not adaptation:
        argv.append("--no-adaptation")
    if subprocess.run(argv, env=env).returncode != 0:
        raise CommandError(f"training run {run_id} failed; see its output above")


def _demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    home = esper_home()
    bootstrap = _ensure_broker()
    env = {**os.environ, "ESPER_KAFKA_BOOTSTRAP": bootstrap}
    _say(f"Kafka at {bootstrap}; topics")
    created = create_topics(bootstrap)
    print(f"created {len(created)} topic(s)")

    supervisor = Supervisor(home / "logs", env=env, detach=args.keep)
    try:
        _say(f"starting {', '.join(PROCESSES)} (logs in {home / 'logs'})")
        for name in PROCESSES:
            supervisor.start(name, "run", name, *(TAMIYO_OPTIONS if name == "tamiyo" else ()))
        _wait_for_query_server()
        shapes = host_shapes(seed=args.seed)
        ids = submit_catalogue(bootstrap, shapes)
        _say(f"submitted Karn's catalogue: {len(ids)} blueprints, precompiled for the host's "
             f"layers {', '.join(f'{s.input_shape}->{s.output_shape}' for s in shapes)}")

        demo = f"demo-{uuid.uuid4().hex[:6]}"
        baseline, adaptive = f"{demo}-baseline", f"{demo}-adaptive"
        _say(f"baseline run {baseline}: no adaptation")
        _train(baseline, args, adaptation=False, env=env)
        _say(f"adaptive run {adaptive}: Tamiyo decides, Tezzeret compiles, Kasmina grows")
        _train(adaptive, args, adaptation=True, env=env)

        _say("waiting for the projection to catch up with the log")
        wait_caught_up(bootstrap)
        summarise(baseline, adaptive)
        restarts = {c.name: c.restarts for c in supervisor.children.values() if c.restarts}
        if restarts:
            print(f"\nrestarted while running: {restarts}")
        url = running_server()
        print(f"\ndemo done in {time.monotonic() - started:.0f} s")
        if args.keep:
            print(f"dashboard: {url}/   (stop with: esper infra down; the processes "
                  f"stop on SIGTERM)")
    finally:
        if not args.keep:
            supervisor.stop()
    return 0


def _wait_for_query_server(timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while running_server() is None:
        if time.monotonic() > deadline:
            raise CommandError("the projector did not start its query server; "
                               f"see {esper_home() / 'logs' / 'projector.log'}")
        time.sleep(0.2)


def summarise(baseline: str, adaptive: str, db=None) -> None:
    """The demo's results, read with SQL from the live projection (or the file ``db``)."""
    b, a = quoted(baseline), quoted(adaptive)

    def show(sql: str) -> None:
        print_arrow(query(sql, db=db))

    _say("accuracy and parameters per epoch (validation)")
    show(f"""
        SELECT epoch,
               round(max(val_accuracy) FILTER (WHERE run_id = {b}), 4) AS baseline_accuracy,
               round(max(val_accuracy) FILTER (WHERE run_id = {a}), 4) AS adaptive_accuracy,
               max(parameter_count) FILTER (WHERE run_id = {b}) AS baseline_parameters,
               max(parameter_count) FILTER (WHERE run_id = {a}) AS adaptive_parameters,
               max(active_seeds) FILTER (WHERE run_id = {a}) AS active_seeds
        FROM epochs WHERE run_id IN ({b}, {a}) GROUP BY epoch ORDER BY epoch""")
    _say("seeds of the adaptive run")
    show(f"""
        SELECT s.layer_id, s.slot_index, s.seed_id, coalesce(f.final_state, s.state) AS state,
               bp.name AS blueprint,
               f.accuracy_with_seed, f.accuracy_without_seed, round(f.effect, 4) AS effect,
               f.parameters_added
        FROM seeds s
        LEFT JOIN blueprints bp USING (blueprint_id)
        LEFT JOIN field_reports f ON f.run_id = s.run_id AND f.seed_id = s.seed_id
        WHERE s.run_id = {a} ORDER BY s.layer_id, s.slot_index, s.first_seen""")
    _say("Tamiyo's decisions and what became of them")
    show(f"""
        SELECT strftime(decided_at, '%H:%M:%S') AS decided, layer_name, slot_index, blueprint_id,
               round(confidence, 3) AS confidence, policy_name, kernel_id, seed_state,
               final_state, round(effect, 4) AS effect
        FROM decision_outcomes WHERE run_id = {a} ORDER BY decided_at""")
    _say("the kernel library (Urza)")
    show("""
        SELECT blueprint_name, status, input_shape, output_shape, parameter_count,
               round(latency_ms, 3) AS latency_ms, germinations
        FROM kernel_library ORDER BY germinations DESC, blueprint_name, kernel_id""")
    _say("runs")
    show(f"""
        SELECT run_id, status, epochs, round(best_val_accuracy, 4) AS best_val_accuracy,
               last_parameter_count, seeds_germinated, seeds_fossilized, seeds_culled, decisions
        FROM run_summary WHERE run_id IN ({b}, {a}) ORDER BY run_id""")

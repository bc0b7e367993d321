"""A synthetic world of training runs whose seed outcomes follow a known law.

Runs of the real trainer take minutes each on two cores, and learning needs hundreds of
decisions, so the tests synthesize runs. Every event is a real contract event, and health
scores use Tolaria's own formula (``esper.tolaria.health.Health``). The law, hidden from
Tamiyo, that the log's outcomes follow:

- each MLP layer has a starvation s in [0, 1]: its share of dead units. One layer per run is
  starved (s in 0.45..0.8), the others nearly healthy (s < 0.1);
- some runs also have a *noisy* layer: highly correlated, low-variance units (health lower
  than the starved layer's) that no seed can fix. Worst health is thus not always the best
  place to grow;
- a seed of kind k in layer l gains ``0.12 * s_l * FIT[k]`` validation accuracy, plus noise,
  and relieves the layer: s_l shrinks by ``0.6 * FIT[k]``.
"""

from __future__ import annotations

import dataclasses
import math
import random
import uuid

from esper.contracts import (
    AdaptationDecision,
    ComponentType,
    EpochCompleted,
    EventMeta,
    FieldReport,
    HealthSignal,
    HostLayer,
    HostTopology,
    SeedState,
    SeedStateChanged,
    SystemStatePacket,
    TrainingRunStarted,
    TrainingSession,
)
from esper.tolaria.health import Health

FIT = {"mlp_small": 1.0, "mlp": 0.85, "lora_large": 0.6, "linear_adapter": 0.5, "lora": 0.3,
       "norm": 0.1}
GAIN_SCALE = 0.12
NOISE = 0.004
SLOTS = 2


def new_run_id(label: str = "run") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


@dataclasses.dataclass
class SyntheticRun:
    run_id: str
    widths: list[int]  # input width, then each layer's output width
    starvation: dict[int, float]
    noisy: int | None
    rng: random.Random
    seeds_gain: float = 0.0  # accuracy the seeds added so far
    started: TrainingRunStarted | None = None

    @classmethod
    def make(cls, seed: int, layers: int = 4, noisy: bool | None = None,
             starved: int | None = None, run_id: str | None = None) -> SyntheticRun:
        rng = random.Random(seed)
        widths = [64] + [rng.choice((16, 32, 64, 128)) for _ in range(layers - 1)] + [10]
        starved = rng.randrange(layers) if starved is None else starved
        starvation = {i: rng.uniform(0.0, 0.1) for i in range(layers)}
        starvation[starved] = rng.uniform(0.45, 0.8)
        if noisy is None:
            noisy = rng.random() < 0.6
        noisy_layer = rng.choice([i for i in range(layers) if i != starved]) if noisy else None
        return cls(run_id or new_run_id(), widths, starvation, noisy_layer, rng)

    # --- the run's events -----------------------------------------------------------------

    def topology(self) -> HostTopology:
        return HostTopology(model_name="synthetic-mlp", layers=[
            HostLayer(layer_id=i, name=f"fc{i + 1}", layer_type="Linear",
                      input_shape=[self.widths[i]], output_shape=[self.widths[i + 1]],
                      parameter_count=self.widths[i] * self.widths[i + 1] + self.widths[i + 1],
                      seed_slots=SLOTS)
            for i in range(len(self.widths) - 1)])

    def run_started(self) -> TrainingRunStarted:
        self.started = TrainingRunStarted(
            meta=EventMeta.new(ComponentType.TOLARIA, run_id=self.run_id),
            session=TrainingSession(session_id=self.run_id, name="synthetic run",
                                    description="a run of the synthetic world",
                                    training_model_config={"host": "mlp"}, training_config={}),
            topology=self.topology())
        return self.started

    def layer_health(self, layer_id: int) -> Health:
        rng, s = self.rng, self.starvation[layer_id]
        if layer_id == self.noisy:
            return Health(activation_variance=0.0008, dead_neuron_ratio=0.02,
                          avg_correlation=min(0.92 + rng.uniform(-0.03, 0.03), 1.0),
                          gradient_norm=2e-5, latency_ms=0.2, error_count=0)
        return Health(activation_variance=0.05 * (1 - s) + 0.002,
                      dead_neuron_ratio=min(max(s + rng.uniform(-0.03, 0.03), 0.0), 1.0),
                      avg_correlation=0.25 + rng.uniform(-0.05, 0.05),
                      gradient_norm=1e-3, latency_ms=0.2, error_count=0)

    def health_signals(self, epoch: int) -> list[HealthSignal]:
        signals = []
        for layer_id in self.starvation:
            health = self.layer_health(layer_id)
            for slot in range(SLOTS):
                signals.append(HealthSignal(
                    meta=EventMeta.new(ComponentType.KASMINA, run_id=self.run_id),
                    layer_id=layer_id, seed_id=slot, chunk_id=0, epoch=epoch,
                    activation_variance=health.activation_variance,
                    dead_neuron_ratio=health.dead_neuron_ratio,
                    avg_correlation=health.avg_correlation, health_score=health.score,
                    execution_latency=health.latency_ms, error_count=0, active_seeds=0,
                    total_seeds=SLOTS))
        return signals

    def epoch_completed(self, epoch: int) -> EpochCompleted:
        # Loss falls, then plateaus from about epoch 4, whatever the seeds do to accuracy.
        val_loss = 0.6 + math.exp(-epoch) + self.rng.uniform(0, 0.002)
        accuracy = min(0.6 + 0.05 * min(epoch, 4) + self.seeds_gain, 1.0)
        return EpochCompleted(
            meta=EventMeta.new(ComponentType.TOLARIA, run_id=self.run_id, causation=self.started),
            epoch=epoch, train_accuracy=accuracy, val_accuracy=accuracy,
            parameter_count=self.topology().total_parameters(), duration_seconds=1.0,
            system_state=SystemStatePacket(epoch=epoch, total_seeds=SLOTS * len(self.starvation),
                                           active_seeds=0, training_loss=val_loss,
                                           validation_loss=val_loss, system_load=0.2,
                                           memory_usage=0.1))

    # --- what a decision turns out to be worth ----------------------------------------------

    def true_gain(self, layer_id: int, kind: str) -> float:
        return GAIN_SCALE * self.starvation[layer_id] * FIT.get(kind, 0.0)

    def outcome(self, decision: AdaptationDecision, epoch: int) -> list:
        """The seed's lifecycle and FieldReport, as Kasmina would emit them; applies its effect."""
        kind = str(decision.metadata["blueprint_kind"])
        layer = decision.layer_id
        effect = self.true_gain(layer, kind) + self.rng.gauss(0.0, NOISE)
        self.starvation[layer] *= 1 - 0.6 * FIT.get(kind, 0.0)
        self.seeds_gain += max(effect, 0.0)
        final = SeedState.FOSSILIZED if effect > 0.01 else SeedState.CULLED
        path = [SeedState.DORMANT, SeedState.GERMINATED, SeedState.TRAINING, SeedState.GRAFTING,
                final] + ([SeedState.DORMANT] if final == SeedState.CULLED else [])
        events, cause, seed_id = [], decision, f"seed-{uuid.uuid4().hex[:10]}"
        for source, target in zip(path, path[1:]):
            cause = SeedStateChanged(
                meta=EventMeta.new(ComponentType.KASMINA, causation=cause), layer_id=layer,
                slot_index=decision.slot_index, seed_id=seed_id, from_state=source,
                to_state=target, blueprint_id=decision.blueprint_id, alpha=0.0,
                reason="synthetic lifecycle", epoch=epoch, step=0)
            events.append(cause)
            if target == final:
                without = 0.6
                events.append(FieldReport(
                    meta=EventMeta.new(ComponentType.KASMINA, causation=cause),
                    layer_id=layer, slot_index=decision.slot_index, seed_id=seed_id,
                    blueprint_id=decision.blueprint_id, final_state=final,
                    accuracy_with_seed=min(max(without + effect, 0.0), 1.0),
                    accuracy_without_seed=without,
                    parameters_added=int(decision.features["parameter_cost"]),
                    epochs_active=3))
        return events


def play(run: SyntheticRun, epochs: int, decide) -> list:
    """Every event of ``run`` in log order; ``decide(event)`` returns Tamiyo's decisions."""
    events = [run.run_started()]
    decide(events[0])
    for epoch in range(1, epochs + 1):
        for signal in run.health_signals(epoch):
            events.append(signal)
            decide(signal)
        trigger = run.epoch_completed(epoch)
        events.append(trigger)
        for decision in decide(trigger):
            events.append(decision)
            outcome = run.outcome(decision, epoch)
            for event in outcome:
                decide(event)
            events.extend(outcome)
    return events

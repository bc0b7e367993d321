from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from esper.artifacts import LocalArtifactStore
from esper.contracts import (
    ComponentType,
    EventMeta,
    FieldReport,
    KasminaControlCommand,
    SeedState,
    SeedStateChanged,
)
from esper.kasmina import CommandRefused, LifecyclePolicy, SeedController, TrainingClock, wrap
from esper.tolaria import load_dataset
from tests.kasmina.kernels import compiled, corrupt

STEPS = 4  # steps per simulated epoch
D, G, T, GR, F_, C = (SeedState.DORMANT, SeedState.GERMINATED, SeedState.TRAINING,
                      SeedState.GRAFTING, SeedState.FOSSILIZED, SeedState.CULLED)


class Harness:
    """A 16 -> 8 -> 4 MLP trained on the synthetic task, its SeedController, and its events.

    Epochs are simulated (the controller's boundaries without optimizer steps), which is all
    the lifecycle needs; real training with seeds is tested in tests/tolaria.
    """

    def __init__(self, kernels, policy=LifecyclePolicy(training_epochs=1, grafting_epochs=1)):
        torch.manual_seed(0)
        self.data = load_dataset("synthetic")
        self.model = wrap(nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)), seeds_per_layer=2)
        optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-2)
        for epoch in range(5):
            for x, y in self.data.train.batches(64, shuffle_seed=epoch):
                optimizer.zero_grad()
                F.cross_entropy(self.model(x), y).backward()
                optimizer.step()
        self.model.measure(self.data.train.x[:2])
        self.events = []
        self.clock = TrainingClock(epoch=1)
        self.seeds = SeedController(self.model, self.events.append, kernels, run_id="run-1",
                                    clock=self.clock, steps_per_epoch=STEPS,
                                    evaluate=self.accuracy, policy=policy)

    @torch.no_grad()
    def accuracy(self) -> float:
        self.model.eval()
        accuracy = (self.model(self.data.val.x).argmax(1) == self.data.val.y).float().mean().item()
        self.model.train()
        return accuracy

    def epoch(self) -> None:
        for _ in range(STEPS):
            self.clock.step += 1
            self.seeds.after_step()
        self.seeds.end_epoch(self.accuracy())
        self.clock.epoch += 1

    def transitions(self) -> list[tuple]:
        return [(e.layer_id, e.slot_index, SeedState(e.from_state), SeedState(e.to_state))
                for e in self.events if isinstance(e, SeedStateChanged)]

    def reports(self) -> list[FieldReport]:
        return [e for e in self.events if isinstance(e, FieldReport)]


def command(kind: str, layer: int, slot: int, **fields) -> KasminaControlCommand:
    return KasminaControlCommand(meta=EventMeta.new(ComponentType.TAMIYO, run_id="run-1"),
                                 command=kind, layer_id=layer, slot_index=slot,
                                 reason=fields.pop("reason", "test"), **fields)


def germinate(harness: Harness, layer: int, slot: int, kernel) -> KasminaControlCommand:
    order = command("germinate", layer, slot, kernel_id=kernel.kernel_id, blueprint_id=kernel.blueprint_id)
    harness.seeds.apply(order)
    return order


def test_a_germinated_seed_trains_grafts_and_fossilizes_with_every_event_in_order(store, kernels):
    harness = Harness(store, LifecyclePolicy(training_epochs=1, grafting_epochs=1, cull_tolerance=1.0))
    order = germinate(harness, 0, 1, kernels["hidden"])
    assert harness.seeds.parameters_version == 1  # the trainer must rebuild its optimizer
    harness.seeds.begin_training()
    harness.epoch()  # training -> grafting at its end
    harness.epoch()  # alpha ramps to 1; judged at its end
    assert harness.transitions() == [(0, 1, D, G), (0, 1, G, T), (0, 1, T, GR), (0, 1, GR, F_)]
    changes = [e for e in harness.events if isinstance(e, SeedStateChanged)]
    assert [(e.epoch, e.step, e.alpha) for e in changes] == [(1, 0, 0.0), (1, 0, 0.0), (1, 4, 0.0), (2, 8, 1.0)]
    assert {e.seed_id for e in changes} == {"l0s1g1"}
    assert {e.kernel_id for e in changes} == {kernels["hidden"].kernel_id}
    # lineage: the command caused the germination, each transition the next, the last the report
    chain = [order, *changes, *harness.reports()]
    assert [e.meta.causation_id for e in chain[1:]] == [e.meta.event_id for e in chain[:-1]]
    assert {e.meta.correlation_id for e in chain} == {order.meta.event_id}
    [report] = harness.reports()
    assert report.final_state == "fossilized" and report.epochs_active == 2
    assert report.parameters_added == kernels["hidden"].metadata.parameter_count
    slot = harness.model.slot(0, 1)
    assert slot.state is F_ and slot.alpha == 1.0 and harness.model.layer(0).live_slots == (slot,)


def test_a_seed_that_hurts_validation_is_culled_and_its_slot_recycled(store, kernels):
    harness = Harness(store)
    germinate(harness, 1, 0, kernels["scrambler"])
    harness.seeds.begin_training()
    harness.epoch()
    harness.epoch()
    assert harness.transitions() == [(1, 0, D, G), (1, 0, G, T), (1, 0, T, GR), (1, 0, GR, C), (1, 0, C, D)]
    [report] = harness.reports()
    assert report.final_state == "culled" and report.accuracy_with_seed < report.accuracy_without_seed - 0.2
    assert "seed hurts validation" in harness.events[-3].reason
    slot = harness.model.slot(1, 0)
    assert slot.state is D and slot.kernel is None and harness.model.layer(1).live_slots == ()
    assert harness.seeds.parameters_version == 2 and harness.seeds.ended == {"culled": 1}
    germinate(harness, 1, 0, kernels["head"])  # the recycled slot takes a new seed
    assert harness.events[-1].seed_id == "l1s0g2"


@pytest.mark.parametrize("make, message", [
    (lambda k: command("fossilize", 0, 0), "fossilize on layer 0 slot 0: seed cannot go from training to fossilized"),
    (lambda k: command("germinate", 0, 0, kernel_id=k.kernel_id, blueprint_id=k.blueprint_id),
     "germinate on layer 0 slot 0: seed cannot go from training to germinated"),
    (lambda k: command("set_alpha", 0, 0, alpha=0.5), "alpha can be set only while a seed is grafting, and this slot is training"),
    (lambda k: command("cull", 0, 1), "cull on layer 0 slot 1: seed cannot go from dormant to culled"),
    (lambda k: command("cull", 2, 0), "cull: no layer 2: layer ids are 0..1"),
    (lambda k: command("cull", 0, 2), "cull: no slot 2 in layer 0"),
])
def test_commands_the_lifecycle_does_not_allow_are_refused_and_change_nothing(store, kernels, make, message):
    harness = Harness(store)
    germinate(harness, 0, 0, kernels["hidden"])
    harness.seeds.begin_training()
    before = list(harness.events)
    with pytest.raises(CommandRefused, match=message):
        harness.seeds.apply(make(kernels["hidden"]))
    assert harness.events == before
    assert harness.model.slot(0, 0).state is T and harness.model.slot(0, 1).state is D


def test_a_corrupted_artifact_culls_the_seed_with_the_reason_and_nothing_else_changes(tmp_path):
    own_store = LocalArtifactStore(tmp_path)
    kernel = compiled(own_store, "linear_adapter", [16], [8])
    corrupt(own_store, kernel)
    harness = Harness(own_store)
    germinate(harness, 0, 0, kernel)
    assert harness.transitions() == [(0, 0, D, G), (0, 0, G, C), (0, 0, C, D)]
    assert "ChecksumMismatch" in harness.events[1].reason
    assert harness.reports() == []  # the seed never ran, so it has no effect to report
    assert harness.seeds.parameters_version == 0
    harness.epoch()  # and training goes on


def test_set_alpha_pins_a_grafting_seed_until_it_reaches_one(store, kernels):
    harness = Harness(store, LifecyclePolicy(training_epochs=1, grafting_epochs=1, cull_tolerance=1.0))
    germinate(harness, 0, 0, kernels["hidden"])
    harness.seeds.begin_training()
    harness.epoch()
    harness.seeds.apply(command("set_alpha", 0, 0, alpha=0.3))
    harness.epoch()
    harness.epoch()
    assert harness.model.slot(0, 0).state is GR and harness.model.slot(0, 0).alpha == 0.3
    harness.seeds.set_alpha(0, 0, 1.0)
    harness.epoch()
    assert harness.model.slot(0, 0).state is F_


def test_fossilize_and_cull_commands_end_seeds_with_measured_reports(store, kernels):
    harness = Harness(store, LifecyclePolicy(training_epochs=1, grafting_epochs=3))
    germinate(harness, 0, 0, kernels["hidden"])
    germinate(harness, 1, 1, kernels["head"])
    harness.seeds.begin_training()
    harness.epoch()
    harness.epoch()
    harness.seeds.apply(command("fossilize", 0, 0, reason="good enough"))
    harness.seeds.apply(command("cull", 1, 1, reason="not needed"))
    assert harness.transitions()[-3:] == [(0, 0, GR, F_), (1, 1, GR, C), (1, 1, C, D)]
    fossil, culled = harness.reports()
    assert (fossil.final_state, culled.final_state) == ("fossilized", "culled")
    assert harness.model.slot(0, 0).alpha == pytest.approx(1 / 3)  # fossilized where it stood


class FailsOnBigBatches(nn.Module):
    def forward(self, x):
        if x.shape[0] > 2:
            raise RuntimeError("out of memory")
        return torch.zeros(x.shape[0], 8)


class PythonKernels:
    def load_kernel(self, kernel_id):
        return FailsOnBigBatches()


def test_a_kernel_that_fails_during_training_is_culled_at_the_next_step():
    harness = Harness(PythonKernels())
    harness.seeds.germinate(0, 0, "kernel-x", "blueprint-x", "test")
    harness.seeds.begin_training()
    harness.model(harness.data.train.x[:16]).sum().backward()
    harness.seeds.after_step()
    assert harness.transitions()[-2:] == [(0, 0, T, C), (0, 0, C, D)]
    assert "kernel failed in the forward pass: RuntimeError: out of memory" in harness.events[-3].reason


def test_seed_state_survives_a_checkpoint(store, kernels):
    harness = Harness(store, LifecyclePolicy(training_epochs=1, grafting_epochs=2))
    germinate(harness, 0, 1, kernels["hidden"])
    germinate(harness, 1, 0, kernels["head"])
    harness.seeds.begin_training()
    harness.epoch()
    harness.epoch()
    with torch.no_grad():
        harness.model.slot(0, 1).kernel.get_parameter("0.weight").add_(0.5)  # "trained"
    seeds, weights = harness.seeds.state_dict(), harness.model.state_dict()

    fresh = Harness(store, LifecyclePolicy(training_epochs=1, grafting_epochs=2))
    fresh.seeds.load_state_dict(seeds)
    fresh.model.load_state_dict(weights)
    for layer, index in ((0, 1), (1, 0)):
        old, new = harness.model.slot(layer, index), fresh.model.slot(layer, index)
        assert (new.state, new.alpha, new.kernel_id, new.seed_id) == (old.state, old.alpha, old.kernel_id, old.seed_id)
        assert new.state is GR and new.alpha == 0.5
    x = harness.data.val.x
    assert torch.equal(fresh.model(x), harness.model(x))
    fresh.clock.epoch, fresh.clock.step = harness.clock.epoch, harness.clock.step
    fresh.epoch()  # the ramp goes on from where it was, and lineage continues
    last_before = [e for e in harness.events if isinstance(e, SeedStateChanged) and e.layer_id == 0][-1]
    first_after = next(e for e in fresh.events if isinstance(e, SeedStateChanged) and e.layer_id == 0)
    assert first_after.from_state == "grafting" and first_after.meta.causation_id == last_before.meta.event_id


def test_restoring_needs_a_fresh_model_and_every_kernel(store, kernels, tmp_path):
    harness = Harness(store)
    germinate(harness, 0, 0, kernels["hidden"])
    seeds = harness.seeds.state_dict()
    with pytest.raises(RuntimeError, match="already has some"):
        harness.seeds.load_state_dict(seeds)
    with pytest.raises(RuntimeError, match="cannot restore seed l0s0g1: kernel .* did not load: ArtifactMissing"):
        Harness(LocalArtifactStore(tmp_path)).seeds.load_state_dict(seeds)

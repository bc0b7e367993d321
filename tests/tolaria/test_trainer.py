from __future__ import annotations

from collections import Counter

import pytest
import torch

from esper.artifacts import LocalArtifactStore
from esper.contracts import FieldReport, SeedStateChanged, TrainingRunCompleted
from esper.kasmina import LifecyclePolicy, wrap
from esper.tolaria import Trainer, TrainingConfig, build_host, load_dataset
from tests.kasmina.kernels import compiled, corrupt
from tests.tolaria.runs import RUN, command, repeatable, undersized_run


def kinds(events) -> Counter:
    return Counter(type(event).__name__ for event in events)


def lifecycle(events) -> list[tuple]:
    return [(e.layer_id, e.slot_index, e.from_state, e.to_state, e.epoch)
            for e in events if isinstance(e, SeedStateChanged)]


def test_the_digits_mlp_reaches_95_percent_and_emits_every_event():
    torch.manual_seed(0)
    data = load_dataset("digits", seed=0)
    model = wrap(build_host("mlp", data), seeds_per_layer=2)
    events = []
    trainer = Trainer(model, data, TrainingConfig(epochs=15, health_every=10), emit=events.append,
                      kernels=LocalArtifactStore("/nonexistent"), run_id=RUN, model_name="mlp",
                      host={"host": "mlp"})
    history = trainer.run()
    assert history[-1].val_accuracy >= 0.95
    # 1257 training samples in batches of 64: 20 steps an epoch, 300 in all; a health sample
    # every 10 steps is 30 samples of 3 layers x 2 slots
    assert kinds(events) == {"TrainingRunStarted": 1, "EpochCompleted": 15, "HealthSignal": 180,
                             "TrainingRunCompleted": 1}
    started, *middle, completed = events
    assert [layer.name for layer in started.topology.layers] == ["fc1", "fc2", "head"]
    assert started.session.session_id == RUN and started.session.training_config["epochs"] == 15
    epochs = [e for e in middle if type(e).__name__ == "EpochCompleted"]
    assert [e.epoch for e in epochs] == list(range(1, 16))
    assert all(0 < e.system_state.memory_usage < 1 and 0 <= e.system_state.system_load <= 1 for e in epochs)
    assert epochs[-1].system_state.validation_loss == pytest.approx(history[-1].val_loss)
    assert completed.status == "completed" and completed.epochs_completed == 15
    assert completed.final_val_accuracy == history[-1].val_accuracy
    assert {(s.layer_id, s.seed_id) for s in middle if type(s).__name__ == "HealthSignal"} == {
        (layer, slot) for layer in range(3) for slot in range(2)}


def test_a_seed_learns_at_alpha_0_grafts_and_is_kept_because_it_helps(store, kernels):
    kernel = kernels["digits_hidden"]
    trainer, events = undersized_run(
        store, epochs=10, dataset="digits", policy=LifecyclePolicy(training_epochs=3, grafting_epochs=3),
        commands={40: [command("germinate", 0, 1, kernel)]})  # step 40 starts epoch 3
    initial = {name: p.clone() for name, p in store.load_kernel(kernel.kernel_id).named_parameters()}
    trainer.run()
    assert lifecycle(events) == [(0, 1, "dormant", "germinated", 3), (0, 1, "germinated", "training", 3),
                                 (0, 1, "training", "grafting", 5), (0, 1, "grafting", "fossilized", 8)]
    [report] = [e for e in events if isinstance(e, FieldReport)]
    assert report.accuracy_with_seed > report.accuracy_without_seed
    seed = trainer.model.slot(0, 1).kernel
    assert all(not torch.equal(p, initial[name]) for name, p in seed.named_parameters())
    assert {id(p) for p in seed.parameters()} <= {id(p) for p in trainer.optimizer.param_groups[0]["params"]}


def test_a_cnn_grows_a_seed_beside_a_convolution(store, kernels):
    torch.manual_seed(0)
    data = load_dataset("synthetic")
    model = wrap(build_host("cnn", data, undersized=True), seeds_per_layer=1)
    events = []

    def germinate_at_step_3():
        if trainer.clock.step == 3:
            trainer.seeds.apply(command("germinate", 1, 0, kernels["conv"]))

    trainer = Trainer(model, data, TrainingConfig(epochs=4, policy=LifecyclePolicy(1, 1, cull_tolerance=1.0)),
                      emit=events.append, kernels=store, run_id=RUN, model_name="cnn", host={"host": "cnn"},
                      between_steps=germinate_at_step_3)
    trainer.run()
    assert [t[2:4] for t in lifecycle(events)] == [("dormant", "germinated"), ("germinated", "training"),
                                                   ("training", "grafting"), ("grafting", "fossilized")]
    assert model.layer(1).layer_type == "Conv2d" and model.slot(1, 0).alpha == 1.0
    assert events[-1].final_val_accuracy > 0.8  # it trains, seed and all


def test_a_seed_that_hurts_is_culled_and_training_goes_on(store, kernels):
    trainer, events = undersized_run(store, epochs=5, commands={7: [command("germinate", 1, 0, kernels["scrambler"])]})
    trainer.run()
    assert [t[2:4] for t in lifecycle(events)] == [("dormant", "germinated"), ("germinated", "training"),
                                                   ("training", "grafting"), ("grafting", "culled"),
                                                   ("culled", "dormant")]
    completed = events[-1]
    assert completed.seeds_culled == 1 and completed.epochs_completed == 5
    assert trainer.model.parameter_count() == sum(p.numel() for p in trainer.optimizer.param_groups[0]["params"])


def test_a_corrupted_kernel_is_refused_and_reported_while_training_goes_on(tmp_path):
    own_store = LocalArtifactStore(tmp_path)
    kernel = compiled(own_store, "mlp_small", [16], [8])
    corrupt(own_store, kernel)
    trainer, events = undersized_run(own_store, epochs=3, commands={3: [command("germinate", 0, 0, kernel)]})
    trainer.run()
    germinated, culled, recycled = [e for e in events if isinstance(e, SeedStateChanged)]
    assert (culled.from_state, culled.to_state) == ("germinated", "culled")
    assert "ChecksumMismatch" in culled.reason and kernel.kernel_id in culled.reason
    assert events[-1].status == "completed" and events[-1].epochs_completed == 3


def test_the_same_seed_and_commands_give_the_same_events(store, kernels):
    commands = {5: [command("germinate", 0, 0, kernels["hidden"])],
                12: [command("germinate", 1, 1, kernels["head"])],
                22: [command("set_alpha", 1, 1, alpha=0.5)]}
    first, first_events = undersized_run(store, epochs=6, commands=commands)
    first.run()
    second, second_events = undersized_run(store, epochs=6, commands=commands)
    second.run()
    assert kinds(first_events)["SeedStateChanged"] >= 7 and kinds(first_events)["HealthSignal"] > 0
    assert [repeatable(e) for e in first_events] == [repeatable(e) for e in second_events]


def test_a_resumed_run_goes_on_exactly_as_if_never_stopped(store, kernels, tmp_path):
    commands = {5: [command("germinate", 0, 0, kernels["hidden"])],
                12: [command("germinate", 1, 1, kernels["head"])]}
    whole, whole_events = undersized_run(store, epochs=6, commands=commands,
                                         policy=LifecyclePolicy(training_epochs=1, grafting_epochs=3))
    whole.run()

    checkpoint = tmp_path / "run.pt"
    stopped, stopped_events = undersized_run(store, epochs=6, commands=commands, checkpoint_path=checkpoint,
                                             policy=LifecyclePolicy(training_epochs=1, grafting_epochs=3),
                                             interrupt_at_epoch=4)
    with pytest.raises(KeyboardInterrupt):
        stopped.run()
    assert stopped_events[-1].status == "failed" and stopped_events[-1].error == "KeyboardInterrupt: "

    resumed, resumed_events = undersized_run(store, epochs=6, commands=commands, checkpoint_path=checkpoint,
                                             policy=LifecyclePolicy(training_epochs=1, grafting_epochs=3))
    resumed.resume(checkpoint)
    for layer, index in ((0, 0), (1, 1)):
        was, now = stopped.model.slot(layer, index), resumed.model.slot(layer, index)
        assert now.state.value == "grafting" and (now.alpha, now.kernel_id) == (was.alpha, was.kernel_id)
        assert now.kernel is not None and 0 < now.alpha < 1
    resumed.run()
    after_epoch_3 = next(i for i, e in enumerate(whole_events)
                         if type(e).__name__ == "EpochCompleted" and e.epoch == 3) + 1
    assert [repeatable(e) for e in resumed_events] == [repeatable(e) for e in whole_events[after_epoch_3:]]
    assert resumed.history[:3] == stopped.history and len(resumed.history) == 6


def test_rebuilding_the_optimizer_keeps_the_hosts_state(store, kernels):
    before = {}

    def germinate_at_step_3():
        if trainer.clock.step == 3:
            before.update({p: int(s["step"]) for p, s in trainer.optimizer.state.items()})
            trainer.seeds.apply(command("germinate", 0, 0, kernels["hidden"]))

    trainer, _ = undersized_run(store, epochs=1, between_steps=germinate_at_step_3)
    trainer.run()
    seed = set(trainer.model.slot(0, 0).parameters())
    after = {p: int(s["step"]) for p, s in trainer.optimizer.state.items()}
    assert set(after) - seed == set(before) and seed < set(after)
    assert all(after[p] == before[p] + 4 for p in before)  # 3 steps before germination, 4 after
    assert all(after[p] == 4 for p in seed)


def test_a_failing_run_says_so_before_raising(store):
    def boom():
        raise ValueError("the bus is gone")
    trainer, events = undersized_run(store, epochs=2, between_steps=boom)
    with pytest.raises(ValueError, match="the bus is gone"):
        trainer.run()
    failed = events[-1]
    assert isinstance(failed, TrainingRunCompleted)
    assert (failed.status, failed.error, failed.epochs_completed) == ("failed", "ValueError: the bus is gone", 0)


@pytest.mark.parametrize("field, value", [("epochs", 0), ("batch_size", 0), ("health_every", -1),
                                          ("learning_rate", 0.0), ("epochs", True)])
def test_bad_training_configs_are_named(field, value):
    settings = {"epochs": 1, field: value}
    with pytest.raises(ValueError, match=field):
        TrainingConfig(**settings)

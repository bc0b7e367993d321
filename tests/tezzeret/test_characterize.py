from __future__ import annotations

import torch

from esper.tezzeret.characterize import MIN_RUNS, characterize


def test_a_profile_times_the_module_and_counts_its_memory():
    module = torch.nn.Linear(64, 32)

    profile = characterize(module, [64], batch_size=16, budget_s=0.01)

    assert profile.device == "cpu"
    assert profile.batch_size == 16
    assert profile.threads == torch.get_num_threads()
    assert profile.runs >= MIN_RUNS
    assert 0 < profile.latency_p50_ms <= profile.latency_p95_ms
    assert profile.parameters == 64 * 32 + 32
    weights, output = 4 * profile.parameters, 4 * 16 * 32
    assert profile.memory_mb * 2**20 >= weights + output


def test_memory_grows_with_what_the_forward_pass_allocates():
    wide = torch.nn.Sequential(torch.nn.Linear(8, 1024), torch.nn.Linear(1024, 8))
    narrow = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 8))
    wide_params = sum(p.numel() for p in wide.parameters()) * 4

    wide_profile = characterize(wide, [8], batch_size=64, budget_s=0.01)

    hidden = 4 * 64 * 1024
    assert wide_profile.memory_mb * 2**20 >= wide_params + hidden
    assert characterize(narrow, [8], budget_s=0.01).memory_mb < wide_profile.memory_mb


def test_the_metrics_carry_both_percentiles_and_the_conditions():
    metrics = characterize(torch.nn.Linear(4, 4), [4], budget_s=0.01).metrics()

    assert set(metrics) == {"latency_p50_ms", "latency_p95_ms", "memory_mb", "parameters",
                            "batch_size", "threads", "runs"}

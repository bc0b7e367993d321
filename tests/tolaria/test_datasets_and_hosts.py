from __future__ import annotations

import pytest
import torch

from esper.tolaria import build_host, load_dataset


def test_digits_ship_with_scikit_learn_and_split_70_15_15():
    data = load_dataset("digits", seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (1257, 269, 271)
    assert data.num_features == 64 and data.num_classes == 10 and data.image_shape == (1, 8, 8)
    assert 0.0 <= data.train.x.min() and data.train.x.max() <= 1.0


def test_splits_are_a_function_of_the_seed():
    first, again, other = load_dataset("digits", 1), load_dataset("digits", 1), load_dataset("digits", 2)
    assert torch.equal(first.val.x, again.val.x) and torch.equal(first.test.y, again.test.y)
    assert not torch.equal(first.val.x, other.val.x)
    everything = torch.cat([first.train.x, first.val.x, first.test.x])
    assert torch.equal(everything.sum(0), torch.cat([other.train.x, other.val.x, other.test.x]).sum(0))


def test_the_synthetic_task_is_drawn_from_the_seed():
    assert torch.equal(load_dataset("synthetic", 3).train.x, load_dataset("synthetic", 3).train.x)
    assert not torch.equal(load_dataset("synthetic", 3).train.x, load_dataset("synthetic", 4).train.x)
    data = load_dataset("synthetic")
    assert data.num_features == 16 and data.num_classes == 4 and len(data.train) == 420


def test_batches_cover_the_split_once_in_a_seeded_order():
    split = load_dataset("synthetic").train
    batches = list(split.batches(64, shuffle_seed=7))
    assert len(batches) == split.batch_count(64) == 7 and len(batches[-1][1]) == 420 - 6 * 64
    assert torch.allclose(torch.cat([x for x, _ in batches]).sum(0), split.x.sum(0), atol=1e-3)
    assert torch.equal(batches[0][0], next(split.batches(64, shuffle_seed=7))[0])
    assert not torch.equal(batches[0][0], next(split.batches(64, shuffle_seed=8))[0])
    assert torch.equal(next(split.batches(64))[0], split.x[:64])


def test_an_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="unknown dataset 'mnist': choose one of digits, synthetic"):
        load_dataset("mnist")


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_hosts_map_flat_samples_to_class_scores_and_undersized_ones_are_smaller(kind):
    data = load_dataset("digits")
    full, small = build_host(kind, data), build_host(kind, data, undersized=True)
    assert full(data.val.x[:5]).shape == small(data.val.x[:5]).shape == (5, 10)
    count = lambda model: sum(p.numel() for p in model.parameters())
    assert count(small) < count(full) / 10


def test_an_unknown_host_is_named():
    with pytest.raises(ValueError, match="unknown host 'resnet': choose one of mlp, cnn"):
        build_host("resnet", load_dataset("synthetic"))

"""The numbers Tamiyo's policies read: per layer (node), per data-flow edge, and per run.

Node features, in order. The first sixteen are upstream's ``ModelGraphBuilder`` features
(``upstream-services.md`` §8.4) with two changes: signals are matched by the topology's
stable layer ids (upstream's ``hash(name) % 1000`` never matched), and sizes are compressed
(upstream fed raw variance and the raw product of the shape, which reaches millions).

| #  | name                   | value                                                         |
|----|------------------------|---------------------------------------------------------------|
| 0  | health                 | mean health score over the window (0.5 before any signal)     |
| 1  | latency                | min(mean latency ms / 10, 1)                                  |
| 2  | errors                 | min(mean error count, 1)                                      |
| 3  | activation_variance    | v / (v + 0.01) of the mean variance v (Tolaria's saturation)  |
| 4  | dead_neuron_ratio      | mean dead-neuron ratio                                        |
| 5  | avg_correlation        | mean absolute correlation (0.5 before any signal)             |
| 6-10 | type_*               | one-hot: linear, conv2d, attention, normalization, activation |
| 11 | log_parameters         | log10(parameters + 1)                                         |
| 12 | shape_rank             | rank of the output shape                                      |
| 13 | log_shape_size         | log10(product of the output shape + 1)                        |
| 14 | in_degree              | data-flow edges into the layer                                |
| 15 | out_degree             | data-flow edges out of it                                     |
| 16 | health_trend           | least-squares slope of the per-epoch mean health              |
| 17 | slot_occupancy         | share of the layer's slots holding or promised a seed         |
| 18 | has_free_slot          | 1 if a slot is free                                           |
| 19 | epochs_since_decision  | min(epochs since Tamiyo last chose this layer, 10) / 10; 1 if never |
| 20 | has_health             | 1 once a signal of the layer is in the window                 |
| 21 | depth                  | position in execution order, 0 (first) to 1 (last)            |

Edge features: upstream's five (shape compatibility, parameter ratio src/(src+dst), one-hot
of linear→linear, conv2d→conv2d, attention→linear), plus conv2d→linear (a flatten) and the
direction: each data-flow edge also appears reversed (direction 0), so that message passing
reaches a layer from both its neighbours. Upstream zero-padded to 8; padding is left out.

Global features: loss trend (slope of validation loss over the window, relative to its mean),
plateau length (epochs since validation loss last improved by ``MIN_IMPROVEMENT``, / 10),
parameter budget used, validation accuracy and the share of slots in use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from esper.contracts import HostLayer
from esper.tamiyo.window import HealthStats, RunWindow

NODE_FEATURES: tuple[str, ...] = (
    "health", "latency", "errors", "activation_variance", "dead_neuron_ratio",
    "avg_correlation", "type_linear", "type_conv2d", "type_attention", "type_normalization",
    "type_activation", "log_parameters", "shape_rank", "log_shape_size", "in_degree",
    "out_degree", "health_trend", "slot_occupancy", "has_free_slot", "epochs_since_decision",
    "has_health", "depth",
)
EDGE_FEATURES: tuple[str, ...] = (
    "shape_compatible", "parameter_ratio", "linear_to_linear", "conv2d_to_conv2d",
    "attention_to_linear", "conv2d_to_linear", "forward",
)
GLOBAL_FEATURES: tuple[str, ...] = (
    "loss_trend", "plateau_epochs", "budget_used", "val_accuracy", "slots_in_use",
)

WINDOW_EPOCHS = 5  # epochs of history the trends and means look at
MIN_IMPROVEMENT = 0.01  # relative fall of validation loss that ends a plateau
_TYPE_PATTERNS = (
    ("linear", ("linear", "fc")),
    ("conv2d", ("conv",)),
    ("attention", ("attention", "attn")),
    ("normalization", ("norm", "bn")),
    ("activation", ("relu", "activation", "gelu")),
)


def layer_kind(layer_type: str) -> str | None:
    """The upstream type family of a layer type name (``Linear`` → linear), or None."""
    lowered = layer_type.lower()
    for kind, patterns in _TYPE_PATTERNS:
        if any(pattern in lowered for pattern in patterns):
            return kind
    return None


def slope(values: Sequence[float]) -> float:
    """Least-squares slope of ``values`` against 0, 1, 2, ...; 0 for fewer than two."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    return covariance / sum((x - mean_x) ** 2 for x in range(n))


def _mean(stats: list[HealthStats], field: str, default: float) -> float:
    count = sum(s.count for s in stats)
    return sum(getattr(s, field) for s in stats) / count if count else default


def node_features(window: RunWindow, layer: HostLayer, position: int, epoch: int,
                  occupied: int) -> list[float]:
    """The features of one layer as of the end of ``epoch`` (see the module doc); ``occupied``
    is how many of its slots are taken."""
    layers = window.layers
    stats = window.health.history(layer.layer_id, epoch)[-WINDOW_EPOCHS:]
    variance = _mean(stats, "variance", 0.0)
    kind = layer_kind(layer.layer_type)
    size = math.prod(layer.output_shape)
    last = window.last_decision_epoch(layer.layer_id)
    return [
        _mean(stats, "health", 0.5),
        min(_mean(stats, "latency_ms", 0.0) / 10.0, 1.0),
        min(_mean(stats, "errors", 0.0), 1.0),
        variance / (variance + 0.01),
        _mean(stats, "dead", 0.0),
        _mean(stats, "correlation", 0.5),
        *(float(kind == name) for name, _ in _TYPE_PATTERNS),
        math.log10(layer.parameter_count + 1),
        float(len(layer.output_shape)),
        math.log10(size + 1),
        float(position > 0),  # execution order is a chain: one edge in, one out
        float(position < len(layers) - 1),
        slope([s.mean("health") for s in stats]),
        occupied / layer.seed_slots if layer.seed_slots else 1.0,
        float(occupied < layer.seed_slots),
        1.0 if last is None else min(epoch - last, 10) / 10.0,
        float(bool(stats)),
        position / (len(layers) - 1) if len(layers) > 1 else 0.0,
    ]


def edge_features(source: HostLayer, target: HostLayer, forward: bool) -> list[float]:
    src, dst = layer_kind(source.layer_type), layer_kind(target.layer_type)
    compatible = math.prod(source.output_shape) == math.prod(target.input_shape)
    total = source.parameter_count + target.parameter_count
    return [
        float(compatible),
        source.parameter_count / total if total else 0.5,
        float(src == "linear" and dst == "linear"),
        float(src == "conv2d" and dst == "conv2d"),
        float(src == "attention" and dst == "linear"),
        float(src == "conv2d" and dst == "linear"),
        float(forward),
    ]


def plateau_epochs(window: RunWindow, epoch: int) -> int:
    """Epochs since validation loss last fell by ``MIN_IMPROVEMENT`` of its best so far."""
    best, since = math.inf, 0
    for number in sorted(e for e in window.epochs if e <= epoch):
        loss = window.epochs[number].val_loss
        if loss < best * (1 - MIN_IMPROVEMENT):
            best, since = loss, 0
        else:
            best, since = min(best, loss), since + 1
    return since


def global_features(window: RunWindow, epoch: int, budget: int, in_use: int) -> list[float]:
    """The run's features; ``in_use`` is how many of its slots are taken."""
    points = [window.epochs[e] for e in sorted(window.epochs) if e <= epoch][-WINDOW_EPOCHS:]
    losses = [p.val_loss for p in points]
    mean_loss = sum(losses) / len(losses) if losses else 0.0
    slots = sum(layer.seed_slots for layer in window.layers)
    return [
        slope(losses) / mean_loss if mean_loss > 0 else 0.0,
        min(plateau_epochs(window, epoch), 10) / 10.0,
        min(window.parameters_committed() / budget, 1.0) if budget > 0 else 1.0,
        points[-1].val_accuracy if points else 0.0,
        in_use / slots if slots else 1.0,
    ]

"""One seed slot of a host layer: what it holds and how its kernel joins the layer's output.

The seed is a residual branch: ``output = host(x) + alpha * kernel(x)``. What each lifecycle
state means for the forward pass:

| state      | kernel | forward value                  | gradients                                   |
|------------|--------|--------------------------------|---------------------------------------------|
| dormant    | none   | host(x): the slot is skipped   | none                                        |
| germinated | loaded | host(x): not in the forward    | none (the optimizer does not know it yet)   |
| training   | loaded | host(x), exactly               | the seed's, by a straight-through estimator |
| grafting   | loaded | host(x) + alpha * kernel(x)    | everyone's; alpha ramps 0 -> 1              |
| fossilized | loaded | host(x) + alpha * kernel(x)    | everyone's; alpha frozen, for good          |
| culled     | none   | host(x)                        | none; the slot goes back to dormant         |

Training at alpha 0 (straight-through): the branch adds ``s - s.detach()`` to the host output.
Its value is zero, so the host's output, loss and gradients are exactly what they would be
without the seed; its gradient is the identity, so the seed's parameters receive dL/dy as if the
branch were added at full weight. The seed thus learns the residual that would lower the loss
before it is allowed to change anything. Its input is detached, so the incubating seed sends
no gradient into the host. In evaluation (and without autograd) a training seed is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from esper.contracts import SeedState, check_transition

FORWARD_STATES = frozenset({SeedState.TRAINING, SeedState.GRAFTING, SeedState.FOSSILIZED})
"""States whose kernel runs in the forward pass (at least in training)."""

ACTIVE_STATES = frozenset({SeedState.GERMINATED, *FORWARD_STATES})
"""States in which the slot holds a live seed."""


class SeedSlot(nn.Module):
    """Seed slot ``index`` of layer ``layer_id``: its state, kernel, alpha and bookkeeping.

    A slot changes state only through `move_to`, which checks the lifecycle table; the events
    that tell the world are the SeedController's business. Calling the slot runs its kernel.
    """

    def __init__(self, layer_id: int, index: int):
        super().__init__()
        self.layer_id = layer_id
        self.index = index
        self.state = SeedState.DORMANT
        self.kernel: nn.Module | None = None
        self.kernel_id: str | None = None
        self.blueprint_id: str | None = None
        self.alpha = 0.0
        self.alpha_pinned = False  # a set-alpha command holds alpha; the ramp leaves it alone
        self.generation = 0  # how many seeds this slot has hosted, this one included
        self.germinated_epoch = 0
        self.stage_epochs = 0  # epochs completed in the current state
        self.stage_steps = 0  # training steps taken in the current state
        self.kernel_error: str | None = None  # why the kernel last failed in a forward pass
        self.ablated = False

    @property
    def seed_id(self) -> str:
        """The id of the slot's current (or last) seed, unique within a run."""
        return f"l{self.layer_id}s{self.index}g{self.generation}"

    @property
    def parameter_count(self) -> int:
        return 0 if self.kernel is None else sum(p.numel() for p in self.kernel.parameters())

    def move_to(self, state: SeedState) -> SeedState:
        """Check ``state`` against the lifecycle table and enter it; return the state left."""
        check_transition(self.state, state)
        previous, self.state = self.state, state
        self.stage_epochs = self.stage_steps = 0
        return previous

    def load(self, kernel: nn.Module, kernel_id: str, blueprint_id: str) -> None:
        self.kernel = kernel
        self.kernel_id = kernel_id
        self.blueprint_id = blueprint_id
        self.alpha = 0.0
        self.alpha_pinned = False
        self.kernel_error = None

    def empty(self) -> None:
        """Drop the kernel (a culled seed); ids stay for the record until the next seed."""
        self.kernel = None
        self.alpha = 0.0
        self.alpha_pinned = False

    @contextmanager
    def alpha_forced_to_zero(self) -> Iterator[None]:
        """Leave the seed out of the forward pass for a counterfactual measurement."""
        self.ablated = True
        try:
            yield
        finally:
            self.ablated = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kernel(x)

    def blend(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The layer output ``y`` for input ``x`` with this seed's contribution."""
        if self.ablated:
            return y
        try:
            if self.state is SeedState.TRAINING:
                if not (self.training and torch.is_grad_enabled()):
                    return y
                branch = self(x.detach())
                return y + (branch - branch.detach())
            return y + self.alpha * self(x)
        except Exception as error:
            # A kernel that fails at run time must not stop training: the step goes on
            # without it and the controller culls the seed at the next step boundary.
            self.kernel_error = f"{type(error).__name__}: {error}"
            return y

    def extra_repr(self) -> str:
        kernel = f", kernel={self.kernel_id}" if self.kernel_id and self.kernel is not None else ""
        return f"layer={self.layer_id}, index={self.index}, state={self.state.value}, alpha={self.alpha:.3f}{kernel}"

"""Optimizers by name (``optimizer = "adam"`` in a spec). A plugin registers its own with
:func:`register_optimizer`; the trainer builds one per network from the run's settings.

An optimizer updates seed-batched parameters (leading dimension = seeds) and must act on each
element alone — as Adam, RMSprop and SGD do — so that seed k trained among others matches seed k
trained alone. ``capturable`` is True on CUDA, where the step may be captured in a CUDA graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ganeval.registry import Registry
from ganeval.settings import Setting, register_entry


@dataclass(frozen=True)
class Optimizer:
    """``build(params, lr, run, capturable)`` -> a ``torch.optim.Optimizer``; ``run`` is the RunSpec
    (read ``run.betas`` or the optimizer's own settings from it)."""

    name: str
    description: str
    build: Callable[[Sequence[nn.Parameter], float, object, bool], torch.optim.Optimizer]
    settings: tuple[Setting, ...] = field(default_factory=tuple)


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")


def register_optimizer(optimizer: Optimizer) -> Optimizer:
    return register_entry(OPTIMIZERS, optimizer, Optimizer)


def make_optimizer(run, params: Sequence[nn.Parameter], lr: float, capturable: bool) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(run.optimizer).build(params, lr, run, capturable)


register_optimizer(Optimizer(
    "adam", "Adam (Kingma & Ba 2015) with the run's betas",
    lambda params, lr, run, capturable: torch.optim.Adam(params, lr=lr, betas=tuple(run.betas), capturable=capturable)))
register_optimizer(Optimizer(
    "rmsprop", "RMSprop (Tieleman & Hinton 2012), as WGAN with clipping prescribes",
    lambda params, lr, run, capturable: torch.optim.RMSprop(params, lr=lr, capturable=capturable)))

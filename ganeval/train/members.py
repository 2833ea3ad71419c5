"""Members of a batched cell: (setting, seed) pairs that train as one seed-batched model.

A study's settings that leave the structure of a training step unchanged — learning rates, Adam
betas, the gradient-penalty weight, R1 gamma, the clip thresholds, the EMA decay, and a plugin's
setting that its author declares ``batchable`` — train as members of one model: the model's leading
dimension holds members, and member k's value of such a setting is element k of a per-member
tensor inside the optimizer, the losses and the penalties. Anything else (n_critic, batch size,
widths, the loss, the variant, evaluation settings, and whether a penalty, clipping or the weight
average is on at all) changes the step, so runs that differ in it train as separate cells.

A value that every member of a cell shares stays a Python float, so a cell without a study (or a
study of structural settings only) computes exactly what it computed before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ganeval.errors import SpecError
from ganeval.variants import per_member

#: ganeval's own settings that may differ between the members of one batched cell.
BATCHABLE = frozenset({"lr_d", "lr_g", "betas", "gp_weight", "r1_gamma", "clip_grad", "clip_value", "ema_beta"})
#: Batchable settings whose zero switches a part of the step off (no penalty pass, no clipping, no
#: weight average): a zero and a non-zero value make different steps.
SWITCHES = ("gp_weight", "r1_gamma", "clip_grad", "clip_value", "ema_beta")
#: Batchable only where the run's optimizer has a per-member form (``Optimizer.build_members``).
OPTIMIZER_KEYS = frozenset({"lr_d", "lr_g", "betas"})

__all__ = ["BATCHABLE", "MemberRun", "MemberValues", "batchable_keys", "group_runs", "structure"]


def batchable_keys(run) -> frozenset[str]:
    """The settings members of ``run``'s cell may differ in."""
    from ganeval.optimizers import OPTIMIZERS
    from ganeval.settings import SETTINGS

    keys = set(BATCHABLE)
    if OPTIMIZERS.get(run.optimizer).build_members is None:
        keys -= OPTIMIZER_KEYS
    keys |= {name for name, owned in SETTINGS.items() if owned.setting.batchable}
    return frozenset(keys)


def structure(run) -> str:
    """What runs must share to train as one batched cell: every training and evaluation setting
    but the batchable ones, and which switches are on (canonical text)."""
    keys = batchable_keys(run)
    values = {**run.train_config(), **run.eval_config()}
    shared = {k: v for k, v in values.items() if k not in keys}
    shared.update({f"{k} on": getattr(run, k) > 0 for k in SWITCHES})
    return json.dumps(shared, sort_keys=True, default=repr)


def group_runs(runs: Sequence[Any]) -> list[list[int]]:
    """Indices of ``runs`` grouped by :func:`structure`, groups and members in first-seen order."""
    groups: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        groups.setdefault(structure(run), []).append(i)
    return list(groups.values())


class MemberValues:
    """The batchable settings of a cell's members, ``runs[k]`` being member k's resolved settings.

    :meth:`get` gives a float when every member has the same value, else a float32 tensor
    ``[members]`` on ``device`` (broadcast against per-member losses and penalties ``[members]``;
    :meth:`view` shapes it against anything with the member dimension first)."""

    def __init__(self, runs: Sequence[Any], device: torch.device):
        self.runs = list(runs)
        self.device = torch.device(device)
        base = self.runs[0]
        shared = structure(base)
        for run in self.runs[1:]:
            if structure(run) != shared:
                diff = sorted(k for k, v in run.train_config().items() if base.train_config().get(k) != v)
                raise SpecError(f"runs that differ in {', '.join(diff)} cannot train as one batched cell")
        self.varying = frozenset(k for k in batchable_keys(base)
                                 if any(getattr(r, k, None) != getattr(base, k, None) for r in self.runs[1:]))
        self._tensors: dict[str, torch.Tensor] = {}

    def values(self, key: str) -> list[Any]:
        return [getattr(r, key) for r in self.runs]

    def get(self, key: str, fn: Callable[[Any], float] | None = None) -> Any:
        """Member values of ``key`` (or ``fn`` of each, computed in float64 on the host as the
        single-run arithmetic does): the shared value, or a float32 tensor ``[members]``."""
        if key not in self.varying:
            value = getattr(self.runs[0], key)
            return fn(value) if fn is not None else value
        if fn is not None:
            return torch.tensor([float(fn(v)) for v in self.values(key)], dtype=torch.float32, device=self.device)
        if key not in self._tensors:
            self._tensors[key] = torch.tensor([float(v) for v in self.values(key)], dtype=torch.float32,
                                              device=self.device)
        return self._tensors[key]

    view = staticmethod(per_member)


class MemberRun:
    """A run as a stabilizer's hook sees it (``ctx.run``): the cell's settings, with each batchable
    setting its members differ in as a tensor ``[members]`` (use ``ganeval.per_member(value, like)``
    to broadcast it against samples or D's outputs)."""

    def __init__(self, run: Any, members: MemberValues):
        self._run, self._members = run, members

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._members.varying:
            return self._members.get(name)
        return getattr(self._run, name)

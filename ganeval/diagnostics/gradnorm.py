"""Gradient L2 norms, total and per layer, for plain or seed-batched networks.

Norms are returned as device tensors and never read back here, so a caller on a GPU can collect
them every step without a host synchronisation and copy them out in bulk.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _layer_name(module: nn.Module, name: str) -> str:
    # "net.0.parametrizations.weight" -> "net.0": the parametrization belongs to its layer.
    return name.split(".parametrizations.")[0] or type(module).__name__


def layer_groups(module: nn.Module) -> list[tuple[str, list[nn.Parameter]]]:
    """Trainable parameters grouped by the module that owns them: one group per layer, in model
    order (module registration order, as ``named_modules`` walks it).

    A parametrized weight (e.g. spectral norm) is reported under the layer it belongs to.
    """
    groups: dict[str, list[nn.Parameter]] = {}
    for name, mod in module.named_modules():
        params = [p for p in mod.parameters(recurse=False) if p.requires_grad]
        if not params:
            continue
        groups.setdefault(_layer_name(module, name), []).extend(params)
    return list(groups.items())


def layer_types(module: nn.Module) -> list[list[str]]:
    """``[[layer, type name], ...]`` for the layers of :func:`layer_groups`, in the same (model)
    order; a parametrized layer gets its own class's name (``Linear``, not ``ParametrizedLinear``)."""
    from torch.nn.utils import parametrize

    names = {n for n, _ in layer_groups(module)}
    out: list[list[str]] = []
    for name, mod in module.named_modules():
        if name.split(".")[-1] == "parametrizations" or ".parametrizations." in name:
            continue
        layer = _layer_name(module, name)
        if layer in names and layer not in {n for n, _ in out}:
            cls = type(mod).__bases__[0] if parametrize.is_parametrized(mod) else type(mod)
            out.append([layer, cls.__name__])
    return out


def squared_sums(grads: Sequence[torch.Tensor | None], seeds: int | None) -> torch.Tensor:
    """``[len(grads), S]`` sums of squares per tensor; ``seeds=None`` treats each tensor as one model
    (S = 1). A missing gradient counts as zero."""
    rows = []
    for g in grads:
        if g is None:
            rows.append(None)
        elif seeds is None:
            rows.append(g.detach().float().square().sum().view(1))
        else:
            rows.append(g.detach().float().reshape(seeds, -1).square().sum(dim=1))
    like = next((r for r in rows if r is not None), None)
    if like is None:
        return torch.zeros(len(rows), 1 if seeds is None else seeds)
    return torch.stack([torch.zeros_like(like) if r is None else r for r in rows])


def grad_norms(groups: Sequence[tuple[str, Sequence[nn.Parameter]]], seeds: int | None,
               grads: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
    """``[S, 1 + layers]``: total gradient L2 norm, then one column per layer group.

    ``grads`` (flat, in group order) defaults to each parameter's ``.grad``.
    """
    params = [p for _, ps in groups for p in ps]
    if grads is None:
        grads = [p.grad for p in params]
    sq = squared_sums(grads, seeds)  # [P, S]
    per_layer = []
    start = 0
    for _, ps in groups:
        per_layer.append(sq[start:start + len(ps)].sum(dim=0))
        start += len(ps)
    layers = torch.stack(per_layer, dim=1)  # [S, L]
    total = layers.sum(dim=1, keepdim=True)
    return torch.cat([total, layers], dim=1).sqrt()

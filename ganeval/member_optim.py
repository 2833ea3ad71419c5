"""Adam and RMSprop whose hyperparameters may differ per member of a seed-batched model.

The trainer trains all members of a cell as one model whose parameters carry a leading member
dimension ``[S, ...]`` (``ganeval.models.layers``). A learning-rate or Adam-beta sweep then trains
as one batched model if the optimizer applies member k's value to slice k of every parameter:
that is what these classes do. Each hyperparameter is a float (shared) or a sequence / 1-D tensor
of ``S`` values.

Why a reimplementation and not ``torch.optim.Adam`` with tensor ``lr``: torch accepts only a 0-d
tensor there. The arithmetic below mirrors torch's single-tensor CPU kernels operation by
operation (same rounding order), so that

* with every hyperparameter shared (floats) the update *is* torch's, bit for bit;
* member k with ``lr[k]`` equals ``torch.optim.Adam(lr=lr[k])`` on that member alone (tested to
  float tolerance over 50 steps, ``tests/test_member_optim.py``).

The state dict has torch's layout (``step``, ``exp_avg``, ``exp_avg_sq`` / ``square_avg`` ...,
tensors with the member dim first), so the trainer's per-seed slicing of optimizer state keeps
working. Per-member hyperparameters live in ``param_groups`` as float64 CPU tensors ``[S]``; since
they come from the spec, not from training, :meth:`load_state_dict` keeps the values this
optimizer was built with rather than those saved (a resumed cell rebuilt from its spec gets its
own values back even if the saved groups came from another member's payload).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

MemberValue = float | Sequence[float] | Tensor

__all__ = ["MemberAdam", "MemberRMSprop", "member_values"]


def member_values(value: MemberValue, name: str) -> float | Tensor:
    """A hyperparameter as a float (shared by all members) or a float64 CPU tensor ``[S]``.

    A sequence whose values are all equal collapses to a float, so an all-equal sweep takes
    torch's scalar arithmetic and reproduces ``torch.optim`` exactly."""
    if isinstance(value, Tensor):
        if value.dim() == 0:
            return float(value)
        if value.dim() != 1:
            raise ValueError(f"{name}: per-member values must be a 1-D tensor [S], got shape {tuple(value.shape)}")
        values = value.detach().to("cpu", torch.float64)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) == 0 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{name}: expected a number or a non-empty sequence of numbers, got {value!r}")
        values = torch.tensor([float(v) for v in value], dtype=torch.float64)
    else:
        raise ValueError(f"{name}: expected a number, a sequence of numbers or a 1-D tensor, got {value!r}")
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name}: values must be finite, got {values.tolist()}")
    if bool((values == values[0]).all()):
        return float(values[0])
    return values


def _fresh_view(value: Tensor, like: Tensor) -> Tensor:
    return value.to(like.device, like.dtype).view(-1, *([1] * (like.dim() - 1)))


def _fused_add(base: Tensor, other: Tensor, scale: Tensor) -> Tensor:
    """``base + scale * other`` rounded once, as torch's ``add(other, alpha=...)`` does on CPU (a fused
    multiply-add): the float32 product is exact in float64, so only the final rounding remains."""
    return (base.double() + other.double() * scale.double()).to(base.dtype)


def _members(*values: float | Tensor) -> int:
    return max((v.numel() for v in values if isinstance(v, Tensor)), default=1)


def _check_range(name: str, value: float | Tensor, low: float, high: float | None, low_open: bool = False) -> None:
    vals = value.tolist() if isinstance(value, Tensor) else [value]
    for v in vals:
        if v < low or (low_open and v == low) or (high is not None and v >= high):
            bound = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'})"
            raise ValueError(f"{name} must be in {bound}, got {v}")


class _MemberOptimizer(torch.optim.Optimizer):
    """Shared machinery: per-member values broadcast as ``[S, 1, ..., 1]`` against a parameter."""

    _member_keys: tuple[str, ...] = ()

    def __init__(self, params: Iterable, defaults: dict[str, Any]):
        super().__init__(params, defaults)
        self._views: dict[tuple, Tensor] = {}
        for group in self.param_groups:
            self._check_group(group)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _with_weight_decay(self, group: dict[str, Any], grad: Tensor, p: Tensor) -> Tensor:
        """The gradient plus L2 weight decay, rounded as torch's optimizers round it."""
        wd = group["weight_decay"]
        if isinstance(wd, Tensor):
            return _fused_add(grad, p, self._view(group, "weight_decay", wd, p))
        return grad.add(p, alpha=wd) if wd != 0 else grad

    def _check_group(self, group: dict[str, Any]) -> None:
        sizes = {v.numel() for k, v in self._member_items(group) if isinstance(v, Tensor)}
        if len(sizes) > 1:
            raise ValueError(f"per-member hyperparameters have different lengths {sorted(sizes)}")
        if sizes:
            S = sizes.pop()
            for p in group["params"]:
                if p.dim() == 0 or p.shape[0] != S:
                    raise ValueError(f"per-member hyperparameters have {S} values but a parameter has shape "
                                     f"{tuple(p.shape)} (the member dim must come first)")

    def _member_items(self, group: dict[str, Any]):
        for key in self._member_keys:
            value = group[key]
            if key == "betas":
                yield "beta1", value[0]
                yield "beta2", value[1]
            else:
                yield key, value

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for key in self._member_keys:
            if key == "betas":
                group["betas"] = (member_values(group["betas"][0], "betas[0]"),
                                  member_values(group["betas"][1], "betas[1]"))
            else:
                group[key] = member_values(group[key], key)
        self._validate(group)
        if hasattr(self, "_views"):
            self._check_group(group)

    def _validate(self, group: dict[str, Any]) -> None:  # overridden
        pass

    def _view(self, group: dict[str, Any], name: str, value: Tensor, like: Tensor,
              dtype: torch.dtype | None = None) -> Tensor:
        """``value [S]`` (group ``group``'s hyperparameter ``name``, or a function of it) as
        ``[S, 1, ...]`` in ``like``'s dtype and device; cached, since the values are fixed."""
        dtype = dtype or like.dtype
        key = (id(group), name, like.dim(), dtype, like.device)
        view = self._views.get(key)
        if view is None:
            view = value.to(like.device, dtype).view(-1, *([1] * (like.dim() - 1)))
            self._views[key] = view
        return view

    def _as(self, group: dict[str, Any], name: str, value: float | Tensor, like: Tensor) -> float | Tensor:
        return self._view(group, name, value, like) if isinstance(value, Tensor) else value

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's loading, then this optimizer's own (spec-given) hyperparameters are restored."""
        mine = [{k: g[k] for k in self._member_keys} for g in self.param_groups]
        super().load_state_dict(state_dict)
        for group, values in zip(self.param_groups, mine):
            group.update(values)
        self._views.clear()

    @staticmethod
    def _step_value(step_t: Tensor) -> float:
        return float(step_t.item())


class MemberAdam(_MemberOptimizer):
    """Adam (Kingma & Ba 2015, torch's formulation) with per-member ``lr``, ``betas``, ``eps`` and
    ``weight_decay`` (L2, added to the gradient as in ``torch.optim.Adam``).

    ``capturable``: keep ``step`` on the parameters' device and compute the bias corrections there
    (no host read), so the step can be captured in a CUDA graph; otherwise ``step`` lives on the
    CPU as in torch and the corrections are computed in float64 on the host.
    """

    _member_keys = ("lr", "betas", "eps", "weight_decay")

    def __init__(self, params: Iterable, lr: MemberValue = 1e-3,
                 betas: tuple[MemberValue, MemberValue] = (0.9, 0.999), eps: MemberValue = 1e-8,
                 weight_decay: MemberValue = 0.0, amsgrad: bool = False, capturable: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=False, foreach=None, capturable=capturable, differentiable=False, fused=None,
                        decoupled_weight_decay=False)
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        _check_range("lr", group["lr"], 0.0, None)
        _check_range("betas[0]", group["betas"][0], 0.0, 1.0)
        _check_range("betas[1]", group["betas"][1], 0.0, 1.0)
        _check_range("eps", group["eps"], 0.0, None)
        _check_range("weight_decay", group["weight_decay"], 0.0, None)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = (torch.zeros((), dtype=torch.float32, device=p.device) if group["capturable"]
                             else torch.tensor(0.0, dtype=torch.float32))
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def _step_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2) = group["lr"], group["betas"]
        eps, capturable = group["eps"], group["capturable"]
        corrections: dict[tuple, tuple[Tensor, Tensor]] = {}  # per step value, shared by the group
        for p in group["params"]:
            if p.grad is None:
                continue
            grad = p.grad
            state = self._init_state(p, group)
            exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
            step_t += 1
            grad = self._with_weight_decay(group, grad, p)
            one_minus_b1 = self._view(group, "1-beta1", 1 - beta1, p) if isinstance(beta1, Tensor) else 1 - beta1
            exp_avg.lerp_(grad, one_minus_b1)
            if isinstance(beta2, Tensor):
                # addcmul's (1 * g) * ((1 - b2) * g) rounds as torch's ((1 - b2) * g) * g
                exp_avg_sq.mul_(self._view(group, "beta2", beta2, p)).addcmul_(
                    grad, self._view(group, "1-beta2", 1 - beta2, p) * grad)
            else:
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            second = exp_avg_sq
            if group["amsgrad"]:
                torch.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                second = state["max_exp_avg_sq"]
            per_member = any(isinstance(v, Tensor) for v in (lr, beta1, beta2))
            if capturable:  # no host read; corrections in float64 on the device, as the host path
                step = step_t.to(torch.float64)
                b1 = self._view(group, "beta1:64", beta1 if isinstance(beta1, Tensor) else torch.tensor([beta1], dtype=torch.float64), p, torch.float64)
                b2 = self._view(group, "beta2:64", beta2 if isinstance(beta2, Tensor) else torch.tensor([beta2], dtype=torch.float64), p, torch.float64)
                lr64 = self._view(group, "lr:64", lr if isinstance(lr, Tensor) else torch.tensor([lr], dtype=torch.float64), p, torch.float64)
                step_size = (lr64 / (1 - b1 ** step)).to(p.dtype)
                bc2_sqrt = ((1 - b2 ** step) ** 0.5).to(p.dtype)
                denom = (second.sqrt() / bc2_sqrt).add_(self._as(group, "eps", eps, p))
                p.add_(-step_size * exp_avg / denom)
                continue
            step = self._step_value(step_t)
            if per_member:
                key = (step, p.dim(), p.dtype, p.device)
                if key not in corrections:
                    b1 = beta1 if isinstance(beta1, Tensor) else torch.tensor(beta1, dtype=torch.float64)
                    b2 = beta2 if isinstance(beta2, Tensor) else torch.tensor(beta2, dtype=torch.float64)
                    step_size = (lr / (1 - b1 ** step)).expand(_members(lr, beta1, beta2)).contiguous()
                    bc2_sqrt = ((1 - b2 ** step) ** 0.5).expand_as(step_size).contiguous()
                    corrections[key] = (_fresh_view(-step_size, p), _fresh_view(bc2_sqrt, p))
                neg_step_size, bc2_sqrt = corrections[key]
                denom = second.sqrt().div_(bc2_sqrt).add_(self._as(group, "eps", eps, p))
                # addcdiv's (1 * t1) / t2 with t1 = -step * m rounds as torch's (-step * m) / denom
                p.addcdiv_(neg_step_size * exp_avg, denom)
            else:
                step_size = lr / (1 - beta1 ** step)
                bc2_sqrt = (1 - beta2 ** step) ** 0.5
                denom = (second.sqrt() / bc2_sqrt)
                denom = denom.add_(self._as(group, "eps", eps, p))
                p.addcdiv_(exp_avg, denom, value=-step_size)

class MemberRMSprop(_MemberOptimizer):
    """RMSprop (torch's formulation: eps added outside the square root) with per-member ``lr``,
    ``alpha``, ``eps``, ``weight_decay`` and ``momentum``; ``centered`` is shared."""

    _member_keys = ("lr", "alpha", "eps", "weight_decay", "momentum")

    def __init__(self, params: Iterable, lr: MemberValue = 1e-2, alpha: MemberValue = 0.99,
                 eps: MemberValue = 1e-8, weight_decay: MemberValue = 0.0, momentum: MemberValue = 0.0,
                 centered: bool = False, capturable: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, capturable=capturable, foreach=None, maximize=False,
                        differentiable=False)
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        _check_range("lr", group["lr"], 0.0, None)
        _check_range("alpha", group["alpha"], 0.0, None)
        _check_range("eps", group["eps"], 0.0, None)
        _check_range("weight_decay", group["weight_decay"], 0.0, None)
        _check_range("momentum", group["momentum"], 0.0, None)

    @staticmethod
    def _uses_momentum(momentum: float | Tensor) -> bool:
        return bool((momentum > 0).any()) if isinstance(momentum, Tensor) else momentum > 0

    def _step_group(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        momentum, centered = group["momentum"], group["centered"]
        for p in group["params"]:
            if p.grad is None:
                continue
            grad = p.grad
            state = self.state[p]
            if len(state) == 0:
                state["step"] = (torch.zeros((), dtype=torch.float32, device=p.device) if group["capturable"]
                                 else torch.zeros((), dtype=torch.float32))
                state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if self._uses_momentum(momentum):
                    state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if centered:
                    state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] += 1
            square_avg = state["square_avg"]
            grad = self._with_weight_decay(group, grad, p)
            if isinstance(alpha, Tensor):
                square_avg.mul_(self._view(group, "alpha", alpha, p)).add_(self._view(group, "1-alpha", 1 - alpha, p) * grad * grad)
            else:
                square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            if centered:
                grad_avg = state["grad_avg"]
                grad_avg.lerp_(grad, self._view(group, "1-alpha", 1 - alpha, p) if isinstance(alpha, Tensor) else 1 - alpha)
                avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
            else:
                avg = square_avg.sqrt()
            avg = avg.add_(self._as(group, "eps", eps, p))
            if self._uses_momentum(momentum):
                buf = state["momentum_buffer"]
                buf.mul_(self._as(group, "momentum", momentum, p)).addcdiv_(grad, avg)
                if isinstance(lr, Tensor):
                    p.copy_(_fused_add(p, buf, self._view(group, "-lr", -lr, p)))
                else:
                    p.add_(buf, alpha=-lr)
            elif isinstance(lr, Tensor):
                p.add_(self._view(group, "-lr", -lr, p) * grad / avg)
            else:
                p.addcdiv_(grad, avg, value=-lr)


"""2-D mixtures of Gaussians: the ring of 8 and the grid of 25 (Metz et al. 2017; Srivastava et al.
2017; Lin et al. 2018).

Ring of 8: centres at radius 2 and angles 2*pi*k/8 for k = 0..7 (not ``linspace(0, 2*pi, 8)``,
which puts the first and last centre on top of each other), std 0.02 (Metz et al. 2017, appendix A).
``ring8-unit`` is the ring of the PacGAN code: radius 1, std 0.01 (fjxmlzn/PacGAN,
synthetic_data_experiments/2DRing_GAN&PacGAN/config.py L6-7); the same shape at half the scale.
Grid of 25: centres at {-4, -2, 0, 2, 4}^2, std 0.05 (VEEGAN's and PacGAN's code). Equal weights.

Any other 2-D mixture is data: :class:`GaussianMixture` (centres, std, optional weights) given to
``register_benchmark(name, GaussianMixture(...))``, or a ``[benchmark.NAME.mixture]`` table in a
bench spec. Its sampling (``sample``, ``batch``), its KL target and its figures all follow the
weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ganeval import rng
from ganeval.benchmarks.base import Benchmark, register_benchmark
from ganeval.errors import SpecError
from ganeval.metrics.catalog import KL_MAX
from ganeval.metrics.modes import gaussian_modes

# Training protocol shared by the mixtures. Sizes: Metz et al. 2017 (two hidden layers of 128
# ReLU units; batch 256). Learning rate and length: chosen for a 10-minute CPU bench, measured here
# (3 seeds, bce): lr 3e-4 leaves the ring uncovered at 3,000 steps, lr 1e-3 covers it; at 3,000 steps
# only 11 % of grid samples are high quality (early training), at 10,000 steps 67 % (ring: 52 % ->
# 88 %), near the published GAN baselines' 95-98 % (reports/reproductions/README.md).
MOG_TRAIN_DEFAULTS: dict[str, Any] = {
    "model": "mlp",
    "z_dim": 16,
    "hidden": 128,
    "depth": 2,
    "batch_size": 256,
    "steps": 10000,
    "lr_g": 1e-3,
    "lr_d": 1e-3,
    "ckpt_every": 1000,
    "trace_every": 10,
    "eval_samples": 2500,
    "hq_sigmas": 3.0,
    "cover_threshold": 1,
}

# Per-loss protocol on these mixtures. WGAN-GP: Adam beta1 = 0.5 as in the authors' own toy-data
# code (gan_toy.py of Gulrajani et al.); their Algorithm 1's beta1 = 0 is tuned for images and, measured
# here, leaves most samples off the modes at this budget. Its 5 critic steps per generator step make a
# step ~6x as costly: 2,000 generator steps give its critic the 10,000 updates the other losses' D get,
# and keep the default bench near 10 minutes on 2 CPU cores.
MOG_LOSS_DEFAULTS: dict[str, dict[str, Any]] = {
    "wgan-gp": {"betas": [0.5, 0.9], "steps": 2000},
}


class MixtureOfGaussians(Benchmark):
    """A mixture of isotropic Gaussians with known modes (the ring, the grid, or any
    :class:`GaussianMixture`). ``weights [K]``: each mode's probability (normalised; None: equal).
    A sample's mode is drawn with these probabilities in :meth:`sample` and :meth:`batch`, and
    ``kl`` compares the generated mode histogram with them."""

    def __init__(self, name: str, description: str, centers: torch.Tensor, std: float,
                 weights: torch.Tensor | None = None):
        self.name = name
        self.description = description
        self.centers = centers.to(torch.float32)
        self.std = float(std)
        self.n_modes = centers.shape[0]
        self.data_shape = (centers.shape[1],)
        #: the largest KL the weights allow (all samples on the lightest mode); None for equal weights,
        #: where it is ln(modes) as for every benchmark
        self.kl_max: float | None = None
        if weights is None:
            self.weights = torch.full((self.n_modes,), 1.0 / self.n_modes)
            self.equal_weights = True
        else:
            w = torch.as_tensor(weights, dtype=torch.float64)
            w = w / w.sum()
            self.equal_weights = bool((w == w[0]).all())
            self.weights = torch.full((self.n_modes,), 1.0 / self.n_modes) if self.equal_weights else w
            # Mode k takes the 32-bit draws in [edge[k-1], edge[k]): its probability is w_k within 2^-32.
            cumulative = w.cumsum(0)[:-1]
            self._edges = torch.ceil(cumulative * 2.0**32).to(torch.int64)
            self._weights64 = w
            self.kl_max = None if self.equal_weights else float(-w.min().log())
        self.train_defaults = dict(MOG_TRAIN_DEFAULTS)
        self.loss_defaults = dict(MOG_LOSS_DEFAULTS)
        self._device_centers: dict[torch.device, torch.Tensor] = {}
        self._device_edges: dict[torch.device, torch.Tensor] = {}

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.equal_weights:  # the draw every equal-weight benchmark has always made
            component = torch.randint(self.n_modes, (n,), generator=generator)
        else:
            component = torch.multinomial(self._weights64, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.data_shape[0], generator=generator)
        return self.centers[component] + self.std * noise

    def batch(self, streams: rng.SeedStreams, step, substep: int, batch_size: int) -> torch.Tensor:
        """``[S, batch_size, D]`` from each seed's own counter-based stream (see :mod:`ganeval.rng`):
        the mode from 32 random bits (equal weights: ``randint``, exactly as before weights existed;
        otherwise the bits read against the cumulative weights), the offset from normals."""
        if self.equal_weights:
            component = streams.randint(rng.DATA, step, 2 * substep, self.n_modes, (batch_size,))
        else:
            bits = streams.bits(rng.DATA, step, 2 * substep, batch_size)
            component = torch.searchsorted(self._edges_on(bits.device), bits, right=True)
        noise = streams.normal(rng.DATA, step, 2 * substep + 1, (batch_size, self.data_shape[0]))
        return self._centers_on(noise.device)[component] + self.std * noise

    def _edges_on(self, device: torch.device) -> torch.Tensor:
        if device not in self._device_edges:  # cached, as the centres: no copy inside a CUDA-graph capture
            self._device_edges[device] = self._edges.to(device)
        return self._device_edges[device]

    def _centers_on(self, device: torch.device) -> torch.Tensor:
        # Cached per device: a host-to-device copy is not allowed inside a CUDA-graph capture.
        if device not in self._device_centers:
            self._device_centers[device] = self.centers.to(device)
        return self._device_centers[device]

    def evaluate(self, samples: torch.Tensor, hq_sigmas: float = 3.0, cover_threshold: int = 1) -> dict[str, float]:
        """Modes covered, high-quality rate and reverse KL of ``samples [N, 2]`` (see metrics.modes)."""
        return self.evaluate_with_counts(samples, hq_sigmas, cover_threshold)[0]

    def evaluate_with_counts(self, samples, hq_sigmas: float = 3.0, cover_threshold: int = 1):
        metrics, counts = gaussian_modes(samples, self.centers, self.std, self.weights, hq_sigmas, cover_threshold)
        if self.kl_max is not None:  # the worst KL is -ln of the lightest weight, not ln(modes)
            metrics[KL_MAX] = self.kl_max
        return metrics, counts

    def eval_options(self, run) -> dict[str, Any]:
        return {"hq_sigmas": run.hq_sigmas, "cover_threshold": run.cover_threshold}

    def figure_weights(self) -> torch.Tensor | None:
        """The weights a figure shows (None for equal weights: nothing to tell the modes apart by)."""
        return None if self.equal_weights else self.weights

    def save_samples_figure(self, path, samples, title, run=None) -> None:
        from ganeval.plots import samples_figure

        samples_figure(path, samples, self.centers, self.std, run.hq_sigmas if run else 3.0, title,
                       weights=self.figure_weights())

    def save_comparison_figure(self, path, panels, title, run=None) -> None:
        from ganeval.plots import samples_grid_figure

        samples_grid_figure(path, panels, self.centers, self.std, run.hq_sigmas if run else 3.0, title,
                            weights=self.figure_weights())


#: The most modes a declared mixture may have (every evaluation measures each sample's distance to each).
MAX_MODES = 100_000
_MIXTURE_KEYS = ("centers", "std", "weights", "description")


@dataclass(frozen=True)
class GaussianMixture:
    """A 2-D mixture of isotropic Gaussians as data, to register as a benchmark::

        ganeval.register_benchmark("zipf5", ganeval.GaussianMixture(
            centers=[[0, 0], [2, 0], [-2, 0], [0, 2], [0, -2]], std=0.05, weights=[1, 1/2, 1/3, 1/4, 1/5]))

    or, in a bench spec, the table ``[benchmark.zipf5.mixture]`` with the same keys. ``centers``:
    one ``[x, y]`` per mode, no two alike; ``std``: every component's standard deviation;
    ``weights``: relative weights, one per mode, all positive (normalised; omitted: equal). The
    benchmark samples modes with these weights (training batches and ``sample``), measures ``kl``
    against them, and shows them in its figures; everything else is the ring's and grid's protocol
    (high quality within ``hq_sigmas`` std of the nearest centre, the MLP training defaults).
    Invalid values are a :class:`SpecError` naming the key."""

    centers: tuple[tuple[float, float], ...]
    std: float
    weights: tuple[float, ...] | None = None
    description: str = ""

    def __post_init__(self):
        where = "mixture"
        try:
            centers = [tuple(float(v) for v in c) for c in self.centers]
        except (TypeError, ValueError):
            raise SpecError(f"{where}: 'centers' must be a list of [x, y] points, got {_shown(self.centers)}") from None
        if not centers or any(len(c) != 2 for c in centers):
            raise SpecError(f"{where}: 'centers' must be a non-empty list of [x, y] points (2-D), got "
                            f"{_shown(self.centers)}")
        if len(centers) > MAX_MODES:
            raise SpecError(f"{where}: at most {MAX_MODES:,} centres, got {len(centers):,}")
        if not all(math.isfinite(v) and abs(v) <= 1e15 for c in centers for v in c):
            raise SpecError(f"{where}: 'centers' must be finite numbers of at most 1e15")
        if len(set(centers)) != len(centers):
            raise SpecError(f"{where}: two centres coincide (the linspace(0, 2 pi, K) bug?): each mode needs "
                            "its own centre")
        std = _number(self.std, f"{where}: 'std'")
        if not 0 < std <= 1e15:
            raise SpecError(f"{where}: 'std' must be positive (and at most 1e15), got {self.std!r}")
        weights = None
        if self.weights is not None:
            if isinstance(self.weights, (str, bytes)) or not hasattr(self.weights, "__len__"):
                raise SpecError(f"{where}: 'weights' must be a list of numbers, got {_shown(self.weights)}")
            weights = tuple(_number(w, f"{where}: 'weights'") for w in self.weights)
            if len(weights) != len(centers):
                raise SpecError(f"{where}: {len(weights)} weights for {len(centers)} centres: give one per centre")
            if not all(0 < w <= 1e15 for w in weights):
                raise SpecError(f"{where}: every weight must be positive (a mode of weight 0 is no mode), got "
                                f"{_shown(list(self.weights))}")
        if not isinstance(self.description, str) or len(self.description) > 500 or not self.description.isprintable():
            raise SpecError(f"{where}: 'description' must be one printable line of at most 500 characters")
        object.__setattr__(self, "centers", tuple(centers))
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "weights", weights)

    @classmethod
    def from_table(cls, table: Any, where: str) -> GaussianMixture:
        """From a spec's ``[benchmark.NAME.mixture]`` table; every problem names ``where``."""
        if not isinstance(table, dict):
            raise SpecError(f"{where} must be a table with centers, std and optionally weights, description")
        unknown = sorted(set(table) - set(_MIXTURE_KEYS))
        if unknown:
            raise SpecError(f"{where}: unknown key {unknown[0]!r}; a mixture has {', '.join(_MIXTURE_KEYS)}")
        for key in ("centers", "std"):
            if key not in table:
                raise SpecError(f"{where}: {key!r} is missing")
        try:
            return cls(table["centers"], table["std"], table.get("weights"), table.get("description", ""))
        except SpecError as exc:
            raise SpecError(str(exc).replace("mixture:", f"{where}:", 1)) from None

    def to_table(self) -> dict[str, Any]:
        """The ``[benchmark.NAME.mixture]`` table that declares this mixture (a resolved spec records it)."""
        table: dict[str, Any] = {"centers": [list(c) for c in self.centers], "std": self.std}
        if self.weights is not None:
            table["weights"] = list(self.weights)
        if self.description:
            table["description"] = self.description
        return table

    def build_benchmark(self, name: str) -> MixtureOfGaussians:
        n = len(self.centers)
        description = self.description or (f"{n} Gaussians, std {self.std:g}"
                                            + (", weighted" if self.weights is not None else ", equal weights"))
        return MixtureOfGaussians(name, description, torch.tensor(self.centers, dtype=torch.float64), self.std,
                                  torch.tensor(self.weights, dtype=torch.float64) if self.weights is not None else None)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{where} must be a number, got {_shown(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise SpecError(f"{where} must be finite, got {value}")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def register_mixture_table(name: str, table: Any, where: str | None = None) -> GaussianMixture:
    """Register (or, if this very mixture is registered under ``name`` already, accept) the mixture
    a spec declares in ``[benchmark.NAME.mixture]``."""
    where = where or f"[benchmark.{name}.mixture]"
    mixture = GaussianMixture.from_table(table, where)
    try:
        register_benchmark(name, mixture)
    except (SpecError, ValueError) as exc:
        raise SpecError(f"{where}: {exc}") from None
    return mixture


def ring_centers(n: int = 8, radius: float = 2.0) -> torch.Tensor:
    angles = torch.arange(n, dtype=torch.float64) * (2.0 * math.pi / n)
    return torch.stack([radius * angles.cos(), radius * angles.sin()], dim=1)


def grid_centers(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    coords = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    xx, yy = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], dim=1)


register_benchmark("ring8", lambda: MixtureOfGaussians(
    "ring8", "8 Gaussians on a circle of radius 2, std 0.02", ring_centers(), 0.02))
register_benchmark("ring8-unit", lambda: MixtureOfGaussians(
    "ring8-unit", "8 Gaussians on the unit circle, std 0.01 (the PacGAN code's ring)", ring_centers(radius=1.0), 0.01))
register_benchmark("grid25", lambda: MixtureOfGaussians(
    "grid25", "25 Gaussians on the grid {-4,-2,0,2,4}^2, std 0.05", grid_centers(), 0.05))

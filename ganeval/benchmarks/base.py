"""What every benchmark provides, and the registry that finds them by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from ganeval.errors import GanevalError, SpecError
from ganeval.registry import Registry
from ganeval.rng import SeedStreams
from ganeval.settings import Setting, register_settings


class Benchmark(ABC):
    """A data distribution with known modes and an evaluator.

    Public API (for any generator, not only ganeval's): :meth:`sample` draws real data and
    :meth:`evaluate` scores generated samples. The trainer uses :meth:`batch`, which draws the
    same distribution from per-seed counter-based streams.
    """

    name: str
    description: str
    n_modes: int
    data_shape: tuple[int, ...]
    #: image benchmarks have real images for FID / IS / KID (``real_uint8``)
    images: bool = False
    #: RunSpec fields this benchmark's protocol sets (model family, sizes, steps, learning rates).
    train_defaults: dict[str, Any]
    #: Further RunSpec fields for particular losses on this benchmark, with the reason in a comment.
    loss_defaults: dict[str, dict[str, Any]] = {}
    #: How many generated samples a figure shows (and a finished run keeps in ``samples.pt``).
    figure_samples: int = 2500

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` real samples, ``[n, *data_shape]``."""

    @abstractmethod
    def batch(self, streams: SeedStreams, step: int | torch.Tensor, substep: int, batch_size: int) -> torch.Tensor:
        """One training batch per seed, ``[S, batch_size, *data_shape]`` on the streams' device."""

    def evaluate(self, samples: torch.Tensor, **options: Any) -> dict[str, float]:
        """Metrics of generated ``samples [N, *data_shape]`` as a flat dict of floats."""
        return self.evaluate_with_counts(samples, **options)[0]

    @abstractmethod
    def evaluate_with_counts(self, samples: torch.Tensor, **options: Any) -> tuple[dict[str, float], torch.Tensor]:
        """:meth:`evaluate`'s metrics and the number of samples assigned to each mode ``[n_modes]``."""

    def batch_options(self, run) -> dict[str, Any]:
        """Extra :meth:`batch` arguments a RunSpec sets (e.g. the size of a fixed training pool)."""
        return {}

    def compact(self, samples: torch.Tensor) -> torch.Tensor:
        """Generated samples in the form kept for evaluation (images: uint8, as when saved as PNG)."""
        return samples

    def eval_options(self, run) -> dict[str, Any]:
        """The evaluate() options a RunSpec sets (thresholds), so they are recorded with results."""
        return {}

    @abstractmethod
    def save_samples_figure(self, path, samples: torch.Tensor, title: str, run=None) -> None:
        """A PNG of generated ``samples`` as a person would inspect them (points over modes, a grid)."""

    @abstractmethod
    def save_comparison_figure(self, path, panels: list[tuple[str, torch.Tensor]], title: str, run=None) -> None:
        """One PNG with a panel of samples per label, to compare losses side by side."""

    def __repr__(self) -> str:
        return f"<benchmark {self.name}: {self.description}>"


BENCHMARKS: Registry[Callable[[], Benchmark]] = Registry("benchmark")
_instances: dict[str, Benchmark] = {}


#: The mixtures registered as data (``register_benchmark(name, GaussianMixture(...))`` or a spec's
#: ``[benchmark.NAME.mixture]``), by name: a spec read again declares the same one without conflict.
MIXTURES: dict[str, Any] = {}


def register_benchmark(name: str, factory: Any, settings: tuple[Setting, ...] = ()) -> None:
    """Make a benchmark available by name (``--benchmarks NAME``); the plugin interface. ``factory``:
    a :class:`ganeval.GaussianMixture` (a mixture given as data: centres, std, weights), or a
    callable returning a :class:`Benchmark` (built once, on first use); ``settings``: the
    benchmark's own. Registering the very same mixture under its name again (a spec read twice) is
    accepted; any other second registration of a name is refused."""
    mixture = factory if hasattr(factory, "build_benchmark") else None
    if mixture is not None:
        if name in MIXTURES and MIXTURES[name] == mixture and not settings:
            return
        if name in BENCHMARKS:
            raise SpecError(f"benchmark {name!r} is already registered" + (
                " with other centres, std or weights" if name in MIXTURES else "") + "; a mixture needs a name of its own")
        factory = partial(mixture.build_benchmark, name)
    elif not callable(factory):
        raise TypeError(f"benchmark {name!r}: the factory must be callable (a Benchmark subclass or a function)")
    if name in BENCHMARKS:
        raise ValueError(f"benchmark {name!r} is already registered")
    if mixture is not None:
        from ganeval.fileio import safe_name

        try:
            safe_name(name, "benchmark name")  # it names a folder of every run
        except GanevalError as exc:
            raise SpecError(str(exc)) from None
    register_settings(settings, f"benchmark {name}")
    BENCHMARKS.register(name, factory)
    if mixture is not None:
        MIXTURES[name] = mixture


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` (``ring8``, ``grid25``, ...); one shared instance per name."""
    factory = BENCHMARKS.get(name)
    if name not in _instances:
        from ganeval.usercode import run_user_code

        made = run_user_code(f"the factory of benchmark {name!r}", factory)  # a plugin's code, for a plugin's name
        if not isinstance(made, Benchmark):
            from ganeval.errors import SpecError

            raise SpecError(f"the factory of benchmark {name!r} returned {type(made).__name__}, not a ganeval.Benchmark")
        _instances[name] = made
    return _instances[name]

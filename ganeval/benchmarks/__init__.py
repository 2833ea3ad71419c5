"""Data distributions with known modes. Importing this package registers the built-in ones."""

from ganeval.benchmarks.base import BENCHMARKS, Benchmark, get_benchmark, register_benchmark
from ganeval.benchmarks import mog, stacked_mnist  # noqa: F401  (registers ring8, grid25, stacked-mnist)
from ganeval.benchmarks.mog import GaussianMixture

__all__ = ["BENCHMARKS", "Benchmark", "GaussianMixture", "get_benchmark", "register_benchmark"]

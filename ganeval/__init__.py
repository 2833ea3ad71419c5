"""ganeval: diagnostics and evaluation for GAN training stability.

Public API::

    from ganeval import get_benchmark
    bench = get_benchmark("ring8")
    real = bench.sample(2500)
    bench.evaluate(my_generator_samples)   # {'modes_covered': ..., 'hq_rate': ..., 'kl': ...}
"""

__version__ = "0.1.0"

from ganeval.benchmarks import get_benchmark  # noqa: E402
from ganeval.errors import GanevalError  # noqa: E402

__all__ = ["GanevalError", "__version__", "get_benchmark"]

"""The known answers of ganeval's evaluators, measured: what a perfect sampler and a one-point
(one-image) generator score on every benchmark, and the shipped classifier's accuracy.

    python benchmarks/known_answers.py [--write reports/known_answers.md]

Perfect sampler = the benchmark's own real data (for stacked MNIST: test-split digits, which the
classifier never saw in training). These are the numbers a trained generator is read against.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import table  # noqa: E402

from ganeval import get_benchmark  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    args = parser.parse_args(argv)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for name in ("ring8", "grid25"):
        b = get_benchmark(name)
        for label, samples in (("perfect sampler (real data)", b.sample(2500, generator=gen)),
                               ("one-point generator", b.centers[0].repeat(2500, 1))):
            m = b.evaluate(samples)
            rows.append([name, label, "2,500", f"{m['modes_covered']:.0f} / {b.n_modes}", f"{m['kl']:.4f}",
                         f"{m['hq_rate']:.3f}", "–", "–", "–", "–"])
    from ganeval.benchmarks.mnist_data import load_mnist
    from ganeval.metrics.classifier import accuracy, shipped_classifier
    from ganeval.metrics.fidelity import fidelity_metrics

    sm = get_benchmark("stacked-mnist")
    real = sm.real_uint8(26000, "test", seed=1)
    one = sm.real_uint8(1, "test", seed=2).repeat(26000, 1, 1, 1)
    for label, samples in (("perfect sampler (real test digits)", real), ("one-image generator", one)):
        m = sm.evaluate(samples)
        f = fidelity_metrics(samples[:10000], sm, ("fid", "is", "kid"), n_real=10000, is_splits=1)
        counts = sm.evaluate_with_counts(samples[:10000])[1].double()
        p = counts[counts > 0] / counts.sum()
        effective = math.exp(float(-(p * p.log()).sum()))  # what IS approaches with a confident classifier
        rows.append(["stacked-mnist", label, "26,000 (FID/IS/KID: 10,000 vs 10,000 reference)", f"{m['modes_covered']:.0f} / 1000",
                     f"{m['kl']:.4f}", "–", f"{f['fid']:.2f}", f"{f['is_mean']:.1f}", f"{effective:.1f}",
                     f"{f['kid_mean']:.4f}"])
    mnist = load_mnist(download=False)
    acc = accuracy(shipped_classifier().model, mnist.test_images, mnist.test_labels)
    body = ("Mode metrics as in the protocols (3σ high-quality rule on the Gaussian mixtures; the shipped classifier "
            f"on stacked MNIST, whose test accuracy is **{acc:.2%}** on the 10,000 MNIST test digits). Fidelity "
            "metrics with the `ganeval-mnist` extractor, the reference being the test split; IS over one split. "
            f"Expected: KL ≈ (modes − 1) / (2 · samples) for a perfect sampler (plug-in bias), ln(modes) for one point "
            f"(ln 8 = {math.log(8):.3f}, ln 25 = {math.log(25):.3f}, ln 1000 = {math.log(1000):.3f}).\n\n"
            + "IS is read against the effective number of modes exp(H) of the same 10,000 samples' mode histogram, "
            "which it approaches when the classifier is confident.\n\n"
            + table(["benchmark", "generator", "samples", "modes covered", "KL", "HQ rate", "FID", "IS",
                     "exp(H) of modes", "KID"], rows))
    print(body)
    if args.write:
        text = "# Known answers of ganeval's evaluators\n\nWritten by `python benchmarks/known_answers.py`.\n\n" + body + "\n"
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

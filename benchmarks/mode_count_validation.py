"""Mode counts on real stacked-MNIST triples whose true number of modes is known (10, 100, 500, 1,000).

    python benchmarks/mode_count_validation.py [--write reports/mode_counts.md]

Each case draws 26,000 triples (the published sample count) uniformly over M randomly chosen digit
triples, every digit a real MNIST test image of the required label. The classifier reads each digit
(channels are classified independently, so reading the triple is reading its three digits). Held out:
the confusion matrix ``modes_robust`` uses is measured on the even-indexed test digits, the triples
are built from the odd-indexed ones. Five draws per M.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import table  # noqa: E402

from ganeval.metrics.modes import mode_counts  # noqa: E402
from ganeval.metrics.robust_modes import confusion_matrix, robust_modes  # noqa: E402

SAMPLES = 26000
TRUE_MODES = (10, 100, 500, 1000)


def read_restricted(n_modes: int, predicted: torch.Tensor, labels: torch.Tensor, pool: torch.Tensor,
                    seed: int, n: int = SAMPLES) -> torch.Tensor:
    """Per-mode counts ``[1000]`` of ``n`` real triples from ``n_modes`` random modes, as the classifier
    (``predicted``, per test digit) reads them; digits drawn from the test indices in ``pool``."""
    g = torch.Generator().manual_seed(seed)
    modes = torch.randperm(1000, generator=g)[:n_modes]
    truth = modes[torch.randint(n_modes, (n,), generator=g)]
    read = torch.zeros(n, dtype=torch.long)
    for place, digit in ((100, truth // 100), (10, truth // 10 % 10), (1, truth % 10)):
        for k in range(10):
            where = digit == k
            candidates = pool[labels[pool] == k]
            picks = candidates[torch.randint(len(candidates), (int(where.sum()),), generator=g)]
            read[where] += place * predicted[picks]
    return mode_counts(read, 1000)


def held_out_reading():
    """(predicted labels of every test digit, true labels, confusion from the even half, odd-half indices)."""
    from ganeval.benchmarks.mnist_data import load_mnist
    from ganeval.metrics.classifier import classify, shipped_classifier

    data = load_mnist()
    predicted = classify(shipped_classifier().frozen, data.test_images.float().div(255.0).unsqueeze(1))["labels"]
    labels = data.test_labels.long()
    index = torch.arange(len(labels))
    even, odd = index[index % 2 == 0], index[index % 2 == 1]
    return predicted, labels, confusion_matrix(labels[even], predicted[even]), odd


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args(argv)
    predicted, labels, confusion, pool = held_out_reading()
    rows = []
    for m in TRUE_MODES:
        counts = [read_restricted(m, predicted, labels, pool, seed) for seed in range(args.draws)]
        published = [int((c > 0).sum()) for c in counts]
        at_least_5 = [int((c >= 5).sum()) for c in counts]
        robust = [robust_modes(c, confusion) for c in counts]
        rows.append([str(m), *(f"{min(v)}–{max(v)}" for v in (published, at_least_5, robust))])
    text = table(["true modes", "published rule (≥ 1 sample)", "fixed minimum (≥ 5)", "modes_robust"], rows)
    accuracy = float((predicted == labels).double().mean())
    doc = ("# Mode counts where the answer is known\n\n"
           f"`python benchmarks/mode_count_validation.py --write reports/mode_counts.md`. {SAMPLES:,} real "
           f"stacked-MNIST test triples drawn uniformly from M modes; range over {args.draws} draws. The shipped "
           f"classifier reads {accuracy:.2%} of the test digits right. `modes_robust` uses a confusion matrix "
           "measured on the even-indexed test digits; the triples are built from the odd-indexed ones.\n\n"
           + text + "\n")
    print(doc)
    if args.write:
        args.write.write_text(doc, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time of FID + IS + KID (and precision/recall) for 10,000 generated vs 10,000 real stacked-MNIST
images with the shipped ``ganeval-mnist`` extractor.

    python benchmarks/perf_fidelity.py [--device cuda] [--n 10000] [--write reports/perf.md]

Rows: reference features cold (extracted) and warm (from ganeval's cache), with and without
precision/recall. The generated images are real test digits re-stacked with another seed, so the
extractor sees realistic inputs. Target: FID+IS+KID under 10 s on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import describe, publish, table  # noqa: E402

from ganeval import get_benchmark  # noqa: E402
from ganeval.metrics.fidelity import fidelity_metrics  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    bench = get_benchmark("stacked-mnist")
    generated = bench.real_uint8(args.n, "train", seed=123)

    rows = []
    with tempfile.TemporaryDirectory() as home:
        from ganeval.metrics import fidelity

        real_root = fidelity._cache_root
        fidelity._cache_root = lambda: Path(home)  # a cold cache for the reference features
        try:
            for label, metrics in (("FID + IS + KID, reference cold", ("fid", "is", "kid")),
                                   ("FID + IS + KID, reference cached", ("fid", "is", "kid")),
                                   ("FID + IS + KID + precision/recall, cached", ("fid", "is", "kid", "prc"))):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                out = fidelity_metrics(generated, bench, metrics, n_real=args.n, is_splits=1, device=device)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                dt = time.perf_counter() - t0
                rows.append([label, f"{args.n:,} vs {args.n:,}", f"{dt:.1f}", f"{out['fid']:.2f}", f"{out['is_mean']:.1f}",
                             f"{out['kid_mean']:.4f}"])
                print(rows[-1], flush=True)
        finally:
            fidelity._cache_root = real_root
    body = (f"Device: {describe(device)}. Extractor `ganeval-mnist` (the shipped classifier); 'generated' = "
            "real train digits stacked with another seed, 'reference' = the test split.\n\n"
            + table(["what", "images", "seconds", "FID", "IS", "KID"], rows))
    publish(body, args.write, "FID / IS / KID", device)
    return 0


if __name__ == "__main__":
    sys.exit(main())

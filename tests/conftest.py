import os

import pytest
import torch

# Cells run in this process unless a test asks for worker processes: many tests patch ganeval's
# internals, which a fresh worker would not see. The workers themselves (the command line's
# default, `auto`) are tested in tests/executors/test_local_workers.py with this unset.
os.environ["GANEVAL_WORKERS"] = "1"

#: CLI flags of a run that trains in a second or two (ring8-sized MLP, a few checkpoints); the one
#: definition every CLI test uses.
TINY = ["--steps", "30", "--set", "hidden=16", "--set", "batch_size=32", "--set", "eval_samples=500",
        "--set", "ckpt_every=10"]


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # Results must not depend on the thread count; two threads also keep CI's two cores busy.
    torch.set_num_threads(2)
    yield


def _mnist_or_none():
    from ganeval.benchmarks.mnist_data import load_mnist
    from ganeval.errors import DataError

    try:
        return load_mnist(download=False)
    except DataError:
        return None


@pytest.fixture(scope="session")
def mnist():
    """The full MNIST from ganeval's cache; full-data tests skip (with the reason) when it is absent.

    `make test` fetches it first (`ganeval data fetch mnist`), so CI runs them."""
    data = _mnist_or_none()
    if data is None:
        pytest.skip("MNIST is not in ganeval's cache: run `ganeval data fetch mnist` to enable full-data tests")
    return data


@pytest.fixture(scope="session")
def shipped():
    from ganeval.errors import DataError
    from ganeval.metrics.classifier import shipped_classifier

    try:
        return shipped_classifier()
    except DataError as exc:
        pytest.fail(f"the shipped classifier must load: {exc}")


@pytest.fixture
def same_as_alone():
    """``check(batch, k, alone, label, exact=False)``: seed k of a batched CellTrainer holds the same
    G, D (and G_ema) weights as the single-seed trainer ``alone``, to float tolerance; ``exact``:
    bit for bit (CPU), as the plain DCGAN's step is whichever kernels PyTorch, MKL and oneDNN pick
    (each seed's convolution is the call it makes alone). Variants add operations whose kernels
    still depend on the seed count (spectral norm's one-seed GEMM, R1's double backward, ...):
    there the last bits differ and the tolerance holds."""

    def check(batch, k, alone, label="", exact=False):
        for name in ("G", "D") + (("G_ema",) if batch.G_ema is not None else ()):
            single = getattr(alone, name).state_dict()
            for key, value in getattr(batch, name).state_dict().items():
                if exact:
                    differ = int((value[k] != single[key][0]).sum())
                    assert differ == 0, f"{label}: {name}.{key}: {differ} of {value[k].numel()} elements differ"
                else:
                    assert torch.allclose(value[k], single[key][0], rtol=1e-3, atol=1e-5), f"{label}: {name}.{key}"

    return check


class Evil:
    """A pickle that runs code when loaded: it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def evil(tmp_path):
    """``evil(path, key)`` saves ``{key: Evil}`` with torch.save; ``evil.ran()`` says whether its code ran."""
    marker = tmp_path / "pwned"

    def save(path, key="weight"):
        torch.save({key: Evil(marker)}, path)
        return path

    save.ran = marker.exists
    return save


def user_loop(run_dir, steps=60, lr=1e-3, trace_every=1, check_norms_at=None):
    """A user's own plain PyTorch GAN loop on ring8, traced with GANTracer exactly as docs/trace.md
    shows; returns (events, gradient norms computed by hand at step ``check_norms_at``)."""
    from torch import nn

    from ganeval import get_benchmark
    from ganeval.diagnostics import GANTracer

    torch.manual_seed(0)
    ring = get_benchmark("ring8")
    G = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    D = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr)
    opt_d = torch.optim.Adam(D.parameters(), lr)
    bce = nn.functional.binary_cross_entropy_with_logits
    by_hand = {}
    tracer = GANTracer(G, D, run_dir, trace_every=trace_every, spectral_every=1)
    for step in range(steps):
        real = ring.sample(64)
        fake = G(torch.randn(64, 4))
        real_logits, fake_logits = D(real).squeeze(1), D(fake.detach()).squeeze(1)
        d_loss = bce(real_logits, torch.ones(64)) + bce(fake_logits, torch.zeros(64))
        opt_d.zero_grad()
        d_loss.backward()
        tracer.d_step(d_loss, real_logits, fake_logits, real=real, fake=fake)
        if step == check_norms_at:
            by_hand["d0"] = float(torch.linalg.vector_norm(torch.cat([D[0].weight.grad.flatten(), D[0].bias.grad.flatten()])))
            by_hand["d"] = float(torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in D.parameters()])))
        opt_d.step()
        g_loss = bce(D(fake).squeeze(1), torch.ones(64))
        opt_g.zero_grad()
        g_loss.backward()
        tracer.g_step(g_loss)
        if step == check_norms_at:
            by_hand["g2"] = float(torch.linalg.vector_norm(torch.cat([G[2].weight.grad.flatten(), G[2].bias.grad.flatten()])))
        opt_g.step()
        tracer.step(step, opt_d, opt_g)
    return tracer.close(), by_hand
import pytest
import torch


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
    """``check(batch, k, alone)``: seed k of a batched CellTrainer holds the same G, D (and G_ema)
    weights as the single-seed trainer ``alone``, to float tolerance."""

    def check(batch, k, alone, label=""):
        for name in ("G", "D") + (("G_ema",) if batch.G_ema is not None else ()):
            single = getattr(alone, name).state_dict()
            for key, value in getattr(batch, name).state_dict().items():
                assert torch.allclose(value[k], single[key][0], rtol=1e-3, atol=1e-5), f"{label}: {name}.{key}"

    return check

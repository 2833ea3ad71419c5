import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # Results must not depend on the thread count; two threads also keep CI's two cores busy.
    torch.set_num_threads(2)
    yield

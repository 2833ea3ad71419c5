"""Figures render whatever a GAN does: all zeros (vanished gradients), all undefined (diverged),
a single point, zeros among positive values."""

import math

import pytest
import torch

from ganeval.plots import _scale, band_figure

CASES = {
    "all zero": torch.zeros(2, 5),
    "all undefined": torch.full((2, 5), math.nan),
    "one point": torch.tensor([[3.0]]),
    "zeros among positives": torch.tensor([[1.0, 0.0, 0.5, 0.0, 2.0], [0.1, 0.2, math.inf, 0.0, 1.0]]),
    "positive": torch.tensor([[1.0, 0.1, 0.5, 3.0, 2.0]]),
}
SCALES = {"all zero": "linear", "all undefined": "linear", "one point": "log", "zeros among positives": "symlog",
          "positive": "log"}


@pytest.mark.parametrize("name", CASES)
def test_a_log_panel_renders_any_data(name, tmp_path):
    values = CASES[name]
    curves = [("G", list(range(values.shape[1])), values)]
    assert _scale(curves, log=True) == SCALES[name]
    band_figure(tmp_path / "f.png", [("grad norm", curves)], name, "L2 norm", log=True)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

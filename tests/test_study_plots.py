"""Study figures render from a small results frame (and refuse to draw nothing)."""

import numpy as np
import pandas as pd
import pytest

from ganeval import study_plots


def sweep_frame(seed=0):
    """ring8 and grid25, three losses, four learning rates, three seeds; some runs diverge at the
    largest learning rate."""
    rng = np.random.default_rng(seed)
    rows = []
    for bench, modes in (("ring8", 8), ("grid25", 25)):
        for li, loss in enumerate(("bce", "hinge", "wgan-gp")):
            for lr in (1e-4, 3e-4, 1e-3, 3e-3):
                for s in range(3):
                    bad = lr == 3e-3 and (s + li) % 2 == 0
                    peak = modes * (0.95 - 0.2 * abs(np.log10(lr) + 3.3 - 0.2 * li))
                    covered = float(np.clip(round(peak + rng.normal(0, 1)), 0, modes))
                    rows.append({"benchmark": bench, "loss": loss, "variant": "none", "seed": s,
                                 "status": "diverged" if bad else "ok", "lr_d": lr,
                                 "modes_covered": np.nan if bad else covered, "n_modes": modes,
                                 "hq_rate": np.nan if bad else float(np.clip(rng.normal(0.6, 0.15), 0, 1)),
                                 "kl": np.nan if bad else float(abs(rng.normal(0.4, 0.2)))})
    return pd.DataFrame(rows)


def _is_png(path):
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_sensitivity_figure_renders(tmp_path):
    path = tmp_path / "sens.png"
    assert study_plots.sensitivity_figure(sweep_frame(), "ring8", "lr_d", path)
    assert _is_png(path)


def test_sensitivity_figure_with_categorical_values(tmp_path):
    frame = sweep_frame()
    frame["optimizer"] = np.where(frame.lr_d < 5e-4, "adam", "rmsprop")
    path = tmp_path / "cat.png"
    assert study_plots.sensitivity_figure(frame, "grid25", "optimizer", path, metrics=["modes_covered"])
    assert _is_png(path)


def test_best_of_k_and_profile_figures_render(tmp_path):
    assert study_plots.best_of_k_figure(sweep_frame(), "grid25", tmp_path / "bok.png", n_boot=200)
    assert _is_png(tmp_path / "bok.png")
    assert study_plots.profile_figure(sweep_frame(), tmp_path / "prof.png", n_boot=100)
    assert _is_png(tmp_path / "prof.png")


def test_nothing_to_draw_writes_nothing(tmp_path):
    frame = sweep_frame()
    assert not study_plots.sensitivity_figure(frame, "mnist", "lr_d", tmp_path / "a.png")
    assert not study_plots.sensitivity_figure(frame, "ring8", "lr_g", tmp_path / "b.png")
    assert not study_plots.best_of_k_figure(frame.drop(columns="lr_d"), "ring8", tmp_path / "c.png")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("values,log", [([1e-4, 1e-3], True), ([1e-4, 5e-4], False), ([0.0, 1.0, 10.0], False),
                                        (["a", "b"], False)])
def test_log_axis_for_wide_positive_ranges(values, log):
    assert study_plots.is_log_scaled(values) is log

"""The study section: its tables carry the hand-checked numbers, its figures are linked and exist."""

import pandas as pd

from ganeval.study_report import study_markdown, write_study_csv

from test_study import study_frame
from test_study_plots import sweep_frame


def test_study_markdown_carries_the_statistics(tmp_path):
    text = study_markdown(study_frame(), tmp_path, n_boot=300)
    assert "## Study" in text and "`lr_d` (2 values)" in text
    assert "| ring8 | bce | 1/4 | 25 % | [5 %, 70 %] | 1/2 | `modes_covered >= 7 and hq_rate >= 0.5` |" in text
    assert "| ring8 | hinge | 3/4 | 75 % | [30 %, 95 %] | 2/2 |" in text
    assert "0.41 [" in text and "0.59 [" in text  # P(bce > hinge) = 6.5/16, its complement
    for line in text.splitlines():
        if line.startswith("!["):
            rel = line.split("](")[1].rstrip(")")
            assert (tmp_path / rel).exists(), rel
    assert "sensitivity-lr_d.png" in text and "best-of-k.png" in text and "study-profile" in text


def test_study_markdown_without_figures_writes_nothing(tmp_path):
    text = study_markdown(sweep_frame(), tmp_path, figures=False, n_boot=100)
    assert "### Figures" not in text and not list(tmp_path.iterdir())
    assert "| grid25 | wgan-gp |" in text


def test_study_csv_has_one_row_per_cell(tmp_path):
    table = write_study_csv(sweep_frame(), tmp_path / "study.csv", n_boot=100)
    back = pd.read_csv(tmp_path / "study.csv")
    assert len(back) == len(table) == 2 * 3
    assert list(back.columns[:4]) == ["benchmark", "loss", "variant", "settings"]
    assert (back.settings == 4).all() and (back.runs == 12).all()

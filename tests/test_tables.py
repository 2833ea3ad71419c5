"""Table rendering: which cell is best, and what a tie means."""

import math

import pandas as pd

from ganeval.tables import best_index, fmt_mean_std


def test_best_marks_every_row_that_ties_for_best_and_none_when_all_tie():
    assert best_index(pd.Series([3.0, 5.0, 5.0, 1.0]), "higher") == {1, 2}
    assert best_index(pd.Series([3.0, 5.0, 5.0, 1.0]), "lower") == {3}
    assert best_index(pd.Series([2.0, 2.0, 2.0]), "higher") == set()  # nothing to point at
    assert best_index(pd.Series([2.0]), "higher") == {0}
    assert best_index(pd.Series([math.nan, 1.0, math.nan]), "lower") == {1}  # undefined never wins
    assert best_index(pd.Series([1.0, 2.0]), "none") == set()


def test_mean_std_formatting():
    assert fmt_mean_std(7 / 3, 1.5275, 3, ".2f") == "2.33 ± 1.53"
    assert fmt_mean_std(8.0, math.nan, 1, ".1f") == "8.0"
    assert fmt_mean_std(math.nan, math.nan, 0, ".1f") == "–"


def test_latex_escapes_every_special_character_of_a_name():
    """A plugin may call its loss r&d_1%#: the LaTeX table must still compile (pandas' Styler escapes)."""
    import pandas as pd

    from ganeval.results import summarize
    from ganeval.tables import render, render_rows

    frame = pd.DataFrame({"benchmark": ["ring8"] * 2, "loss": ["r&d_1%#"] * 2, "variant": ["none"] * 2, "seed": [0, 1],
                          "status": ["ok"] * 2, "modes_covered": [8.0, 7.0]})
    text = render(summarize(frame, ["modes_covered"]), ["modes_covered"], "latex")
    assert r"r\&d\_1\%\# & 2 & \textbf{7.5 $\pm$ 0.7} \\" in text
    assert r"modes\_covered $\uparrow$" in text
    rows = render_rows(["a_b", "c&d"], [["1 – 2", "50%"]], "latex")
    assert r"a\_b & c\&d \\" in rows and r"1 -- 2 & 50\% \\" in rows

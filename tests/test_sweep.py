"""Sweep and search settings: parsing, validation, the prefix property, folder-name fragments."""

import math
import re

import pytest

from ganeval import sweep
from ganeval.errors import SpecError
from ganeval.spec import check_run_value
from ganeval.sweep import SearchDim, cross, fragments, setting_fragment


def check(key, value):
    """The validator a bench passes: the run-spec's own."""
    return check_run_value(key, value, "test")


def parse_sweep(items, check=check, **kw):
    return sweep.parse_sweep(items, check=check, **kw)


def parse_search(items, trials, seed=0, check=check, **kw):
    return sweep.parse_search(items, trials, seed, check=check, **kw)


def grid_from_table(table, check=check, **kw):
    return sweep.grid_from_table(table, check=check, **kw)


def search_from_table(table, check=check, **kw):
    return sweep.search_from_table(table, check=check, **kw)


parse_value = sweep.parse_value


def test_grid_crosses_items_and_ties_keys():
    settings = parse_sweep(["lr_d+lr_g=1e-4,1e-3", "n_critic=1,5"])
    assert settings == [
        {"lr_d": 1e-4, "lr_g": 1e-4, "n_critic": 1}, {"lr_d": 1e-4, "lr_g": 1e-4, "n_critic": 5},
        {"lr_d": 1e-3, "lr_g": 1e-3, "n_critic": 1}, {"lr_d": 1e-3, "lr_g": 1e-3, "n_critic": 5},
    ]
    assert all(isinstance(s["lr_d"], float) for s in settings)  # normalised by the run-spec check


def test_values_are_validated_through_the_callback():
    seen = []

    def check(key, value):
        seen.append((key, value))
        if key == "lr_d" and value > 1:
            raise SpecError(f"lr_d too big: {value}")
        return value

    assert parse_sweep(["lr_d=0.1,0.2"], check=check) == [{"lr_d": 0.1}, {"lr_d": 0.2}]
    assert seen == [("lr_d", 0.1), ("lr_d", 0.2)]
    with pytest.raises(SpecError, match="too big"):
        parse_sweep(["lr_d=0.1,2"], check=check)


@pytest.mark.parametrize("items,message", [
    (["lr_d=1e-4,fast"], "must be a number"),          # default check: the run-spec validator
    (["lr_dd=1e-4"], "lr_dd"),                          # unknown key
    (["lr_d"], "expected KEY=VALUES"),
    (["lr_d=1e-4,,1e-3"], "empty value"),
    (["lr_d=1e-4,1e-4"], "same value twice"),
    (["lr_d=1e-4", "lr_d+lr_g=1e-3"], "swept twice"),
    (["lr_d+lr_d=1e-4"], "tied to itself"),
    (["lr-d=1e-4"], "not a setting name"),
    (["betas=[0.5,0.9"], "unbalanced"),
])
def test_bad_sweeps_are_refused_with_one_clear_message(items, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_sweep(items)


def test_values_parse_as_toml_literals_or_bare_words():
    assert parse_value("1e-4") == 1e-4 and parse_value("3") == 3 and parse_value("true") is True
    assert parse_value("[0.5, 0.999]") == [0.5, 0.999] and parse_value("bce") == "bce"
    # brackets protect commas: two betas values
    assert parse_sweep(["betas=[0.5,0.999],[0.0,0.9]"]) == [{"betas": [0.5, 0.999]}, {"betas": [0.0, 0.9]}]


def test_sweep_table_matches_the_flag_form():
    table = {"lr_d+lr_g": [1e-4, 1e-3], "n_critic": [1, 5]}
    assert grid_from_table(table) == parse_sweep(["lr_d+lr_g=1e-4,1e-3", "n_critic=1,5"])
    with pytest.raises(SpecError, match="must be a list"):
        grid_from_table({"lr_d": 1e-4})


def test_search_is_reproducible_and_a_longer_search_extends_a_shorter_one():
    short = parse_search(["lr_d=1e-5:1e-2:log", "n_critic=1:5"], trials=5, seed=3)
    long = parse_search(["lr_d=1e-5:1e-2:log", "n_critic=1:5"], trials=13, seed=3)
    assert long[:5] == short
    assert parse_search(["lr_d=1e-5:1e-2:log", "n_critic=1:5"], trials=5, seed=3) == short
    assert parse_search(["lr_d=1e-5:1e-2:log", "n_critic=1:5"], trials=5, seed=4) != short
    assert len({s["lr_d"] for s in long}) == 13  # distinct draws


def test_search_values_lie_in_range_and_fill_it():
    settings = parse_search(["lr_d+lr_g=1e-5:1e-2:log", "ema_beta=0:0.99"], trials=64, seed=0)
    lrs = [s["lr_d"] for s in settings]
    assert all(s["lr_d"] == s["lr_g"] for s in settings)  # tied
    assert all(1e-5 <= v <= 1e-2 for v in lrs)
    # log-uniform: a Sobol sample of 64 puts close to 1/3 of the points in each decade
    decades = [sum(1 for v in lrs if 10 ** (-5 + i) <= v < 10 ** (-4 + i)) for i in range(3)]
    assert all(abs(n - 64 / 3) <= 2 for n in decades), decades
    betas = [s["ema_beta"] for s in settings]
    assert all(0 <= b <= 0.99 for b in betas) and abs(sum(betas) / 64 - 0.495) < 0.02


def test_integer_bounds_draw_integers_over_the_whole_range():
    settings = parse_search(["n_critic=1:5"], trials=64, seed=1)
    values = [s["n_critic"] for s in settings]
    assert all(isinstance(v, int) for v in values)
    assert sorted(set(values)) == [1, 2, 3, 4, 5]
    assert [values.count(v) for v in range(1, 6)] == pytest.approx([12.8] * 5, abs=2)


def test_search_dim_quantiles():
    d = SearchDim(("lr_d",), 1e-4, 1e-2, log=True)
    assert d.value(0.0) == pytest.approx(1e-4) and d.value(0.5) == pytest.approx(1e-3)
    assert SearchDim(("x",), 2.0, 4.0).value(0.25) == 2.5
    assert SearchDim(("n",), 1, 5, integer=True).value(0.999999) == 5


@pytest.mark.parametrize("items,trials,message", [
    (["lr_d=1e-2:1e-5:log"], 4, "LOW < HIGH"),
    (["lr_d=0:1e-2:log"], 4, "LOW > 0"),
    (["lr_d=1e-5"], 4, "LOW:HIGH"),
    (["lr_d=a:b"], 4, "finite numbers"),
    (["lr_d=1e-5:1e-2:cubic"], 4, "LOW:HIGH"),
    (["lr_d=1e-5:1e-2"], 0, "positive integer"),
    ([], 4, "nothing to search"),
])
def test_bad_searches_are_refused(items, trials, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_search(items, trials=trials, seed=0)


def test_search_table():
    table = {"trials": 6, "seed": 2, "lr_d+lr_g": "1e-5:1e-2:log"}
    assert search_from_table(table) == parse_search(["lr_d+lr_g=1e-5:1e-2:log"], trials=6, seed=2)
    with pytest.raises(SpecError, match="'trials' is required"):
        search_from_table({"lr_d": "1e-5:1e-2"})


def test_cross_combines_a_grid_with_a_search():
    settings = cross(parse_sweep(["n_critic=1,5"]), parse_search(["lr_d=1e-5:1e-2:log"], trials=3, seed=0))
    assert len(settings) == 6 and {s["n_critic"] for s in settings} == {1, 5}
    assert cross([], [{"a": 1}]) == [{"a": 1}] and cross() == []
    with pytest.raises(SpecError, match="both swept and searched"):
        cross(parse_sweep(["lr_d=1e-4"]), parse_search(["lr_d=1e-5:1e-2"], trials=2, seed=0))


# --- fragments -------------------------------------------------------------------------------
def test_fragments_are_readable():
    assert setting_fragment({"lr_d": 1e-4}) == "lr_d-1e-04"
    assert setting_fragment({"lr_g": 3e-4, "lr_d": 0.5}) == "lr_d-0.5__lr_g-3e-04"  # sorted keys
    assert setting_fragment({"n_critic": 5, "spectral_norm": True}) == "n_critic-5__spectral_norm-true"
    assert setting_fragment({"betas": [0.5, 0.999]}) == "betas-0.5+0.999"
    assert setting_fragment({"lr_d": 2.5e-5}) == "lr_d-2.5e-05"
    assert setting_fragment({"steps": 12000}) == "steps-12000"


def test_fragments_are_folder_safe_and_abbreviate_long_or_lossy_values():
    frag = setting_fragment({"lr_d": 0.000123456789})
    assert re.fullmatch(r"lr_d-1\.235e-04~[0-9a-f]{8}", frag)
    weird = setting_fragment({"name": "a/b c:" + "x" * 100})
    assert re.fullmatch(r"[A-Za-z0-9._+~-]+", weird) and len(weird) < 60 and "/" not in weird
    assert setting_fragment({"name": "1"}) != setting_fragment({"name": 1})


def test_fragments_never_collide():
    # values that round to the same 4 significant digits, that sanitise to the same text, long
    # values with a common prefix, and a 64-trial search
    settings = [{"lr_d": 1.23451e-4}, {"lr_d": 1.23452e-4}, {"lr_d": 1.2345e-4},
                {"name": "a/b"}, {"name": "a b"}, {"name": "a-b"},
                {"name": "p" * 40 + "1"}, {"name": "p" * 40 + "2"},
                {"lr_d": 1e-4, "lr_g": 1e-3}, {"lr_d": 1e-3, "lr_g": 1e-4}]
    settings += parse_search(["lr_d+lr_g=1e-5:1e-2:log", "ema_beta=0:0.999"], trials=64, seed=0)
    names = fragments(settings)
    assert len(set(names)) == len(settings)
    with pytest.raises(SpecError, match="the same"):
        fragments([{"lr_d": 1e-4}, {"lr_d": 0.0001}])


def test_a_rounded_fragment_still_names_the_value():
    frag = setting_fragment({"lr_d": 0.000123456789})
    assert math.isclose(float(frag.split("-", 1)[1].split("~")[0]), 0.000123456789, rel_tol=1e-3)


def test_labels_and_columns():
    from ganeval.sweep import setting_label, swept_keys
    assert setting_label({"lr_d": 1e-4, "lr_g": 3e-4}) == "lr_d=1e-04, lr_g=3e-04"
    assert setting_label({"betas": [0.5, 0.999], "spectral_norm": True}) == "betas=[0.5, 0.999], spectral_norm=true"
    assert swept_keys(parse_sweep(["lr_d+lr_g=1e-4,1e-3", "n_critic=1,5"])) == ["lr_d", "lr_g", "n_critic"]

"""MetricValues: a result's metric values by name, with the catalog's better direction."""

import math

import pytest

from ganeval.metrics.catalog import MetricValues


def test_values_keep_their_order_and_read_as_floats():
    values = MetricValues({"kl": 0.5, "modes_covered": 8, "fid": None})
    assert list(values) == ["kl", "modes_covered", "fid"] and len(values) == 3
    assert values["modes_covered"] == 8.0 and isinstance(values["modes_covered"], float)
    assert math.isnan(values["fid"])  # a null in a document (undefined) reads as NaN, never as 0


def test_directions_come_from_the_catalog():
    values = MetricValues({"modes_covered": 8.0, "kl": 0.1, "n_modes": 8.0, "my_own_metric": 1.0})
    assert values.directions == {"modes_covered": "higher", "kl": "lower", "n_modes": "none", "my_own_metric": "none"}
    with pytest.raises(KeyError):
        values.direction("hq_rate")  # not in this result

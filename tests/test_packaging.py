"""The dependency floors pyproject.toml declares are the versions `make test-min` installs, so a
floor is a tested version, not a hope (SciPy 1.10 was declared while `study.py` passed ``rng=`` to
``scipy.stats.bootstrap``, which only SciPy 1.15 accepts)."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def declared() -> dict[str, Version]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = {}
    for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        req = Requirement(text)
        floors = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert len(floors) == 1, f"{text}: one '>=' floor per dependency"
        found[req.name.lower()] = floors[0]
    return found


def pinned() -> dict[str, Version]:
    found = {}
    for line in (ROOT / ".ci" / "min-versions.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            found[name.strip().lower()] = Version(version.strip())
    return found


def test_every_declared_floor_is_the_version_test_min_installs():
    floors, pins = declared(), pinned()
    assert set(floors) == set(pins)
    assert {n: v for n, v in floors.items() if pins[n] != v} == {}
    # the extras are covered by dev (which the test environment installs)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for name in ("ray", "tensorboard"):
        assert {str(Requirement(t).specifier) for t in extras[name]} == {f">={floors[name]}"}
    for text in extras["docs"]:  # the docs site's packages, in dev at the same floors
        req = Requirement(text)
        assert str(req.specifier) == f">={floors[req.name.lower()]}", text


def test_test_min_uses_the_floors_and_ci_runs_it():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test-min:", makefile, re.M) and "-c .ci/min-versions.txt" in makefile
    assert "make test-min" in (ROOT / ".ci" / "run").read_text()


def test_the_scipy_calls_that_set_the_floor_exist_there():
    """``rng=`` of ``scipy.stats.bootstrap`` and ``qmc.Sobol`` (SciPy 1.15): the floor is 1.15."""
    import inspect

    from scipy import stats

    assert declared()["scipy"] >= Version("1.15")
    assert "rng" in inspect.signature(stats.bootstrap).parameters
    assert "rng" in inspect.signature(stats.qmc.Sobol).parameters


def test_the_package_ships_its_py_typed_marker():
    """PEP 561: type checkers read ganeval's hints only if ``py.typed`` is in the installed package,
    which setuptools copies only when package-data names it."""
    from fnmatch import fnmatch

    assert (ROOT / "ganeval" / "py.typed").is_file()
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ganeval"]
    assert any(fnmatch("py.typed", p) for p in patterns)

"""`ganeval check`: a deliberate regression fails naming the metric; seed noise alone does not."""

import json

import pytest

from ganeval.cli import main
from ganeval.regression import Verdict, _p_value, tolerance_amount

FAST = ["--benchmarks", "grid25", "--losses", "bce,hinge", "--steps", "300", "--set", "hidden=64",
        "--set", "batch_size=128", "--set", "eval_samples=1000", "--no-report"]


@pytest.fixture(scope="module")
def benches(tmp_path_factory):
    root = tmp_path_factory.mktemp("regression")
    runs = {
        "base": [*FAST, "--seeds", "0,1,2"],
        "other_seeds": [*FAST, "--seeds", "3,4,5"],
        # G's learning rate so small that it never leaves its initial point: a collapse
        "collapsed": [*FAST, "--seeds", "0,1,2", "--set", "lr_g=1e-9"],
    }
    for name, args in runs.items():
        assert main(["bench", *args, "--out", str(root / name)]) == 0
    assert main(["baseline", "init", str(root / "base"), "-o", str(root / "baseline.json")]) == 0
    return root


def test_the_baseline_passes_against_itself(benches, capsys):
    assert main(["check", str(benches / "base"), "--baseline", str(benches / "baseline.json")]) == 0
    assert "no regression" in capsys.readouterr().err


def test_other_seeds_of_the_same_bench_pass(benches, capsys):
    assert main(["check", str(benches / "other_seeds"), "--baseline", str(benches / "baseline.json")]) == 0


def test_an_injected_collapse_fails_and_names_the_metric(benches, capsys):
    code = main(["check", str(benches / "collapsed"), "--baseline", str(benches / "baseline.json")])
    out = capsys.readouterr()
    assert code == 1
    named = [line for line in out.err.splitlines() if line.startswith("regression: grid25/")]
    assert any("/modes_covered:" in line and "worse by" in line for line in named), out.err
    assert "WORSE" in out.out


def test_json_output(benches, capsys):
    main(["check", str(benches / "collapsed"), "--baseline", str(benches / "baseline.json"), "--json"])
    verdicts = json.loads(capsys.readouterr().out)
    failed = {v["key"] for v in verdicts if v["failed"]}
    assert any(k.endswith("/modes_covered") for k in failed) and any(k.endswith("/kl") for k in failed)
    assert all(v["verdict"] in ("ok", "better", "worse", "missing") for v in verdicts)


def test_a_tracked_metric_missing_from_the_bench_fails(benches, tmp_path, capsys):
    doc = json.loads((benches / "baseline.json").read_text())
    doc["metrics"]["grid25/lsgan/kl"] = doc["metrics"]["grid25/bce/kl"]
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(doc))
    assert main(["check", str(benches / "base"), "--baseline", str(path)]) == 1
    assert "grid25/lsgan/kl: tracked by the baseline but absent" in capsys.readouterr().err


def test_update_keeps_what_the_old_baseline_tracked(benches, tmp_path, capsys):
    doc = json.loads((benches / "baseline.json").read_text())
    keep = {k: doc["metrics"][k] for k in ("grid25/bce/kl", "grid25/hinge/modes_covered")}
    keep["grid25/bce/kl"]["tolerance"] = {"kind": "relative", "value": 0.5, "floor": 0.0}
    path = tmp_path / "small.json"
    path.write_text(json.dumps({**doc, "metrics": keep}))
    assert main(["check", str(benches / "other_seeds"), "--baseline", str(path), "--update"]) == 0
    new = json.loads(path.read_text())
    assert set(new["metrics"]) == set(keep)
    assert new["metrics"]["grid25/bce/kl"]["tolerance"] == {"kind": "relative", "value": 0.5, "floor": 0.0}
    assert new["source"].endswith("other_seeds")


def test_tolerance_kinds():
    assert tolerance_amount({"kind": "absolute", "value": 0.5}, 10.0, 3.0) == 0.5
    assert tolerance_amount({"kind": "relative", "value": 0.1}, -20.0, 3.0) == 2.0
    assert tolerance_amount({"kind": "spread", "value": 2.0, "floor": 1.0}, 10.0, 0.1) == 1.0
    assert tolerance_amount({"kind": "spread", "value": 2.0, "floor": 1.0}, 10.0, 3.0) == 6.0


def test_the_t_test_is_one_sided_and_direction_aware():
    base, worse = [8.0, 7.9, 8.1, 8.0], [5.0, 5.2, 4.9, 5.1]
    assert _p_value(base, worse, "higher") < 0.001
    assert _p_value(base, worse, "lower") > 0.99
    assert _p_value([8.0], worse, "higher") != _p_value([8.0], worse, "higher")  # NaN with one seed
    assert not Verdict("k", "higher", 1, 1, 0, 0.5, "ok", "").failed

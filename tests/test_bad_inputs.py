"""Every bad input the CLI can get: one line on stderr, exit 2, no traceback, nothing changed.

The table is the contract; its length is reported in the closing notes of the work that added it.
"""

import json
import os
import signal
import stat
import struct
import zipfile
import zlib

import numpy as np
import pytest
import torch
from conftest import TINY

from ganeval.cli import main

DEEP = 100_000  # nesting levels of the deep JSON / TOML documents


def _png_header(width, height):
    """A PNG whose header claims ``width`` x ``height`` 8-bit gray pixels (and holds none)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def _bad_sample_files(root):
    """One file per way a samples file can be broken (classes of issue 27)."""
    np.save(root / "ok.npy", np.zeros((10, 2), dtype=np.float32))
    np.save(root / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.savez(root / "objects.npz", samples=np.array([{"a": 1}, None], dtype=object))
    np.savez(root / "crc.npz", samples=np.arange(4000, dtype=np.float32).reshape(2000, 2))
    data = bytearray((root / "crc.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the stored array: the CRC no longer matches
    (root / "crc.npz").write_bytes(bytes(data))
    np.savez_compressed(root / "deflate.npz", samples=np.random.default_rng(0).normal(size=(2000, 2)))
    data = bytearray((root / "deflate.npz").read_bytes())
    for i in range(200, 260):
        data[i] ^= 0x5A  # the compressed stream itself
    (root / "deflate.npz").write_bytes(bytes(data))
    with zipfile.ZipFile(root / "notes.npz", "w") as zf:
        zf.writestr("samples.txt", "not an array")
    with zipfile.ZipFile(root / "huge.npz", "w") as zf:  # a header claiming 10^12 values
        zf.writestr("samples.npy", b"\x93NUMPY\x01\x00" + b"v\x00" + (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }".ljust(117) + "\n").encode())
    torch.save(torch.eye(4).to_sparse(), root / "sparse.pt")
    torch.save(torch.empty(10, 2, device="meta"), root / "meta.pt")
    torch.save(torch.tensor(1.0), root / "scalar.pt")
    (root / "bomb").mkdir()
    (root / "bomb" / "a.png").write_bytes(_png_header(100000, 100000))
    np.save(root / "one_image.npy", np.zeros((1, 1, 28, 28), dtype=np.uint8))
    np.save(root / "images.npy", np.random.default_rng(0).integers(0, 255, (8, 1, 28, 28), dtype=np.uint8))
    np.save(root / "images3.npy", np.random.default_rng(0).integers(0, 255, (8, 3, 28, 28), dtype=np.uint8))
    gens = {
        "gen_valueerror.py": "raise ValueError('bad configuration')\n",
        "gen_recursion.py": "def f():\n    return f()\nf()\n",
        "gen_exit7.py": "import sys\nsys.exit(7)\n",
        "gen_exit0.py": "import sys\ndef G(z):\n    sys.exit(0)\n",
        "gen_scalar.py": "import torch\ndef G(z):\n    return torch.tensor(1.0)\n",
        "gen_meta.py": "import torch\ndef G(z):\n    return torch.empty(len(z), 2, device='meta')\n",
        "gen_keyerror.py": "def G(z):\n    raise KeyError('w')\n",
    }
    for name, text in gens.items():
        (root / name).write_text(text)


def _special_files(root):
    """FIFOs and links to a device where a document is expected: every reader refuses them at once."""
    os.mkfifo(root / "fifo")
    os.mkfifo(root / "fifo.json")
    os.mkfifo(root / "fifo.toml")
    os.mkfifo(root / "fifo.npy")
    os.symlink("/dev/zero", root / "zero.toml")
    os.symlink("/dev/zero", root / "zero.json")
    os.symlink("/dev/zero", root / "zero.npy")
    (root / "deep.json").write_text("[" * DEEP + "]" * DEEP)
    (root / "deep.toml").write_text("steps = " + "[" * DEEP + "]" * DEEP + "\n")
    (root / "deep_tables.toml").write_text("[" + ".".join(["a"] * 5000) + "]\nx = 1\n")
    (root / "huge_steps.toml").write_text("steps = 9223372036854775807\n")
    (root / "huge_float.toml").write_text("lr_d = 1e308\n")
    started = root / "started" / "ring8" / "mine" / "seed-0"
    started.mkdir(parents=True)
    (started / "config.json").write_text("{}")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small finished bench, a run folder, a baseline and assorted bad files to point commands at."""
    root = tmp_path_factory.mktemp("world")
    assert main(["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "2", *TINY, "--out",
                 str(root / "bench"), "--no-report"]) == 0
    assert main(["baseline", "init", str(root / "bench"), "-o", str(root / "baseline.json")]) == 0
    assert main(["train", "--benchmark", "ring8", "--loss", "hinge", *TINY, "--out", str(root / "run")]) == 0
    (root / "not.json").write_text("{ not json")
    doc = json.loads((root / "baseline.json").read_text())
    doc["metrics"]["ring8/bce/modes_coverd"] = doc["metrics"].pop("ring8/bce/modes_covered")
    (root / "renamed.json").write_text(json.dumps(doc))
    (root / "a_file").write_text("in the way")
    (root / "garbage.pt").write_bytes(b"not a checkpoint")
    (root / "empty").mkdir()
    specs = {
        "bad_toml.toml": "steps = \n",
        "unknown_key.toml": "stepz = 10\n",
        "wrong_type.toml": "[loss.hinge]\nlr_d = 'fast'\n",
        "newer.toml": "spec_version = 99\n",
        "bad_cell.toml": "[cell.\"ring8\"]\nsteps = 3\n",
        "bad_seeds.toml": "seeds = [1, 1]\n",
        "bad_table.toml": "[loss]\nhinge = 3\n",
        "unknown_variant_table.toml": "[variant.spectral]\nspectral_norm = true\n",
    }
    for name, text in specs.items():
        (root / name).write_text(text)
    _bad_sample_files(root)
    _special_files(root)
    doc = json.loads((root / "baseline.json").read_text())
    for entry in doc["metrics"].values():
        entry["values"] = [1e308 for _ in entry["values"]]
    (root / "baseline_1e308.json").write_text(json.dumps(doc))
    text = (root / "baseline.json").read_text()
    (root / "baseline_bigint.json").write_text(text.replace('"format": 1', '"format": 1' + "0" * 400, 1))
    _round4_files(root)
    return root


def _round4_files(root):
    """Plugins, centres and trace folders for the cases of issue 35 ("hardening, fourth round")."""
    plugins = {
        "plugin_base_exc.py": "class Boom(BaseException):\n    pass\nraise Boom('no')\n",
        "plugin_generator_exit.py": "raise GeneratorExit('bye')\n",
        "plugin_bad_str.py": "class Weird(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\n"
                             "raise Weird()\n",
        "plugin_check_raises.py": "import ganeval\nganeval.register_variant(ganeval.Variant('r4-check', 'x', settings=("
                                  "ganeval.Setting('r4_knob', int, 1, check=lambda v: 1 // (v - 9) and None),)))\n",
        "plugin_bad_factory.py": "import ganeval\ndef broken():\n    raise RuntimeError('no data')\n"
                                 "ganeval.register_benchmark('r4-broken', broken)\n",
        "plugin_big_default.py": "import ganeval\nganeval.register_variant(ganeval.Variant('r4-big', 'x', settings=("
                                 "ganeval.Setting('r4_big', float, 1e200),)))\n",
        "plugin_big_int.py": "import ganeval\nganeval.register_variant(ganeval.Variant('r4-bigint', 'x', settings=("
                             "ganeval.Setting('r4_bigint', int, 2**70),)))\n",
        "plugin_float_knob.py": "import ganeval\nganeval.register_variant(ganeval.Variant('r4-knob', 'x', settings=("
                                "ganeval.Setting('r4_float', float, 0.5),)))\n",
        os.fsdecode(b"plugin-\xff.py"): "x = 1\n",
    }
    for name, text in plugins.items():
        (root / name).write_text(text)
    angles = np.arange(8) * 2 * np.pi / 8
    np.save(root / "centers.npy", np.stack([2 * np.cos(angles), 2 * np.sin(angles)], 1))
    np.save(root / "centers_2m.npy", np.arange(4_000_000, dtype=np.float32).reshape(-1, 2))
    (root / "report_notes.md").write_text("my own notes, not a report\n")
    (root / "secret.txt").write_text("a file that is nobody's trace\n")
    for name in ("traced_link", "traced_fifo"):
        (root / name).mkdir()
        (root / name / "trace.csv").write_bytes((root / "run" / "trace.csv").read_bytes())
    os.symlink(root / "secret.txt", root / "traced_link" / "layers.json")
    os.mkfifo(root / "traced_fifo" / "layers.json")


@pytest.fixture(autouse=True)
def _plugins_stay_in_their_test():
    """The plugins these cases load register losses that exit, benchmarks whose factory raises, ...:
    every registry (and the loader's record of what it ran) is put back as it was after each test,
    so no other test of this process meets them (`ganeval list` builds every benchmark)."""
    from ganeval import plugins
    from ganeval.benchmarks import base
    from ganeval.executors.base import EXECUTORS
    from ganeval.losses import LOSSES
    from ganeval.metrics.catalog import METRICS
    from ganeval.models import MODELS
    from ganeval.optimizers import OPTIMIZERS
    from ganeval.settings import SETTINGS
    from ganeval.variants import VARIANTS

    saved = [(d, dict(d)) for d in (*(r._entries for r in (LOSSES, VARIANTS, base.BENCHMARKS, MODELS, OPTIMIZERS,
                                                             EXECUTORS, SETTINGS, METRICS)),
                                    base._instances, plugins._loaded, plugins._by_ref, plugins._sources)]
    yield
    for d, before in saved:
        d.clear()
        d.update(before)


def W(name):  # a path inside the world, resolved at test time
    return f"{{world}}/{name}"


CASES = [
    # bench: names
    (["bench", "--losses", "bce,foo"], "unknown loss 'foo'"),
    (["bench", "--losses", "hinje"], "did you mean 'hinge'"),
    (["bench", "--benchmarks", "ring9"], "unknown benchmark 'ring9'"),
    (["bench", "--variants", "sm"], "did you mean 'sn'"),
    (["bench", "--variants", "sn,foo"], "unknown variant 'foo'"),
    (["bench", "--variants", "bn+no-bn"], "cannot be combined"),
    (["bench", "--losses", "wgan", "--variants", "sn"], "is refused"),
    (["bench", "--losses", ""], "at least one"),
    # bench: numbers
    (["bench", "--steps", "0"], "must be positive"),
    (["bench", "--steps", "-5"], "must be positive"),
    (["bench", "--steps", "abc"], "is not a valid integer"),
    (["bench", "--seeds", "0"], "must be positive"),
    (["bench", "--seeds", "x"], "expects a count"),
    (["bench", "--seeds", "1,1"], "seed listed twice"),
    (["bench", "--batch-size", "0"], "must be positive"),
    (["bench", "--set", "lr_d=-1"], "'lr_d' must be positive"),
    (["bench", "--set", "stpes=3"], "did you mean 'steps'"),
    (["bench", "--set", "steps=many"], "'steps' must be an integer"),
    (["bench", "--set", "betas=[0.5]"], "'betas' must be two numbers"),
    (["bench", "--set", "ema_beta=1.5"], "'ema_beta' must be a number in [0, 1)"),
    (["bench", "--set", "novalue"], "--set expects KEY=VALUE"),
    (["bench", "--device", "tpu"], "Invalid value for '--device'"),
    (["bench", "--executor", "mars"], "unknown executor 'mars'"),
    (["bench", "--address", "10.0.0.1:6379"], "--address only goes with --executor ray"),
    # bench: files
    (["bench", "--spec", W("missing.toml")], "spec file not found"),
    (["bench", "--spec", W("bad_toml.toml")], "invalid TOML"),
    (["bench", "--spec", W("unknown_key.toml")], "unknown key 'stepz' (did you mean 'steps'?)"),
    (["bench", "--spec", W("wrong_type.toml")], "[loss.hinge]: 'lr_d' must be a number"),
    (["bench", "--spec", W("newer.toml")], "newer than this ganeval"),
    (["bench", "--spec", W("bad_cell.toml")], "cell keys are"),
    (["bench", "--spec", W("bad_seeds.toml")], "seed listed twice"),
    (["bench", "--spec", W("bad_table.toml")], "tables expected under 'loss'"),
    (["bench", "--spec", W("unknown_variant_table.toml")], "unknown variant 'spectral'"),
    (["bench", *TINY, "--out", W("a_file/b")], "cannot write"),
    (["bench", "--benchmarks", "stacked-mnist", "--inception-weights", W("missing.pth")], "Inception weights not found"),
    (["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "2", *TINY, "--set", "lr_d=0.5",
      "--out", W("bench")], "different configuration (lr_d)"),
    (["bench", "--out", ""], "must name a folder"),
    (["bench", "--out", "  "], "must name a folder"),
    (["bench", "--inception-weights", W("missing.pth")], "Inception weights not found"),  # even where unused
    # train
    (["train", "--loss", "nope"], "unknown loss 'nope'"),
    (["train", "--out", ""], "must name a folder"),
    (["train", "--seed", "-1"], "Invalid value for '--seed'"),
    (["train", "--benchmark", "ring8", "--loss", "hinge", *TINY, "--set", "z_dim=3", "--out", W("run")],
     "different configuration (z_dim)"),
    # eval
    (["eval", W("no/such/run")], "not a ganeval run folder"),
    (["eval", W("bench")], "not a ganeval run folder"),
    (["eval", W("run"), "--step", "999"], "no checkpoint at step 999"),
    (["eval", W("run"), "--metrics", "fid,lpips"], "unknown metric 'lpips'"),
    (["eval", W("run"), "--inception-weights", W("garbage.pt")], "computes no FID/IS/KID"),
    (["eval", W("run"), "--metrics", "fid"], "FID/IS/KID need an image benchmark"),
    (["bench", "--set", "fidelity=['fid']"], "FID/IS/KID need an image benchmark"),
    (["eval", W("run"), "--lpips-weights", W("empty")], "LPIPS needs an image benchmark"),
    (["bench", "--benchmarks", "stacked-mnist", "--set", "lpips_weights=" + W("empty")], "alexnet-owt-7be5be79.pth is missing"),
    (["bench", "--benchmarks", "stacked-mnist", "--set", "lpips_weights=" + W("no/such")], "LPIPS weights folder not found"),
    # report
    (["report", W("no/such/bench")], "bench folder not found"),
    (["report", W("empty")], "not a ganeval bench folder"),
    (["report", W("bench"), "--format", "xml"], "Invalid value for '--format'"),
    # check / baseline
    (["check", W("bench"), "--baseline", W("missing.json")], "baseline file not found"),
    (["check", W("bench"), "--baseline", W("not.json")], "not a JSON baseline"),
    (["check", W("bench"), "--baseline", W("renamed.json")], "does not name a known metric"),
    (["check", W("no/such/bench"), "--baseline", W("baseline.json")], "bench folder not found"),
    (["check", W("bench")], "Missing option '--baseline'"),
    (["check", W("bench"), "--baseline", W("baseline.json"), "--alpha", "nan"], "strictly between 0 and 1"),
    (["check", W("bench"), "--baseline", W("baseline.json"), "--alpha", "1"], "--alpha"),
    (["baseline", "init", W("bench"), "-o", W("baseline.json")], "exists"),
    (["baseline", "init", W("bench"), "-o", W("new.json"), "--metrics", "fidd"], "unknown metric 'fidd'"),
    # data / classifier
    (["data", "fetch", "mnist", "--root", W("no/such/folder"), "--no-download"], "MNIST folder not found"),
    (["data", "fetch", "cifar10"], "Invalid value for '{mnist}'"),
    (["classifier", "verify", "--weights", W("missing.pt")], "classifier weights not found"),
    (["classifier", "verify", "--weights", W("garbage.pt")], "no recorded SHA-256"),
    # the group
    (["bogus"], "No such command 'bogus'"),
]

S = ["score", W("ok.npy"), "--benchmark", "ring8"]  # a score that would succeed
CASES += [
    # 1. nothing a finished run wrote is replaced
    ([*S, "--out", W("bench"), "--name", "bce", "--seed", "0"], "already holds a finished run"),
    ([*S, "--out", W("bench"), "--name", "bce", "--seed", "1"], "already holds a finished run"),
    ([*S, "--out", W("started"), "--name", "mine"], "already holds a started run"),
    (["score", "--generator", W("gen_exit0.py:G"), "--benchmark", "ring8", "--out", W("bench"), "--name", "bce"],
     "already holds a finished run"),
    (["baseline", "init", W("bench"), "-o", W("fifo.json")], "exists"),
    # 3. names that become paths: one plain component, nothing written outside the named folder
    ([*S, "--out", "{tmp}/o", "--name", "../../x"], "contains a path separator"),
    ([*S, "--out", "{tmp}/o", "--name", "{tmp}/abs"], "contains a path separator"),
    ([*S, "--out", "{tmp}/o", "--name", ".."], "starts with '.'"),
    ([*S, "--out", "{tmp}/o", "--name", ".hidden"], "starts with '.'"),
    ([*S, "--out", "{tmp}/o", "--name", "a\nb"], "control character"),
    ([*S, "--out", "{tmp}/o", "--name", "x" * 300], "longer than"),
    # 4. FIFOs and devices where a file is expected: refused at once, never read
    (["bench", "--spec", W("fifo.toml")], "is a FIFO"),
    (["bench", "--spec", W("zero.toml")], "is a device"),
    (["bench", "--spec", "/dev/zero"], "is a device"),
    (["check", W("bench"), "--baseline", W("fifo.json")], "is a FIFO"),
    (["check", W("bench"), "--baseline", W("zero.json")], "is a device"),
    (["score", W("fifo.npy"), "--benchmark", "ring8"], "is a FIFO"),
    (["score", W("zero.npy"), "--benchmark", "ring8"], "is a device"),
    (["score", W("ok.npy"), "--real", W("zero.npy")], "is a device"),
    (["report", W("bench"), "-o", W("fifo")], "not a regular file"),
    (["report", W("bench"), "--format", "md", "-o", "/dev/null"], "not a regular file"),
    # 5. --set reads one value of the key's type, nothing more
    (["bench", "--set", "lr_d=1e-3\nsteps=5"], "must be one value on one line"),
    (["bench", "--set", "lr_d=0x10"], "'lr_d' must be a number"),
    (["bench", "--set", "lr_d=inf"], "'lr_d' must be a number"),
    (["bench", "--set", "lr_d=nan"], "'lr_d' must be a number"),
    (["bench", "--set", "lr_d=1e-3 # fast"], "'lr_d' must be a number"),
    (["bench", "--set", "steps=1.5"], "'steps' must be an integer"),
    (["bench", "--set", "steps=1e3"], "'steps' must be an integer"),
    (["bench", "--set", "steps=0b101"], "'steps' must be an integer"),
    (["bench", "--set", "spectral_norm=1"], "'spectral_norm' must be true or false"),
    (["bench", "--set", "betas=[0.5, 0.9, 0.1]"], "'betas' must be two numbers"),
    (["bench", "--set", "optimizer=adam\tsgd"], "must be one value on one line"),
    # 6. every number has a sane range
    (["bench", "--steps", "9223372036854775808"], "'steps' must be at most"),
    (["bench", "--set", "steps=" + "9" * 400], "'steps' must be"),
    (["bench", "--seeds", "9223372036854775807"], "at most 100,000 seeds"),
    (["bench", "--seeds", "1,18446744073709551616"], "a seed must be in [0, 2^63)"),
    (["bench", "--batch-size", str(2**63 - 1)], "'batch_size' must be at most"),
    (["bench", "--set", f"batch_size={2**63 - 1}"], "'batch_size' must be at most"),
    (["bench", "--set", f"hidden={2**32}"], "'hidden' must be at most"),
    (["bench", "--set", "depth=100000"], "'depth' must be at most"),
    (["bench", "--set", "lr_d=1e308"], "'lr_d' must be at most"),
    (["bench", "--spec", W("huge_steps.toml")], "'steps' must be at most"),
    (["bench", "--spec", W("huge_float.toml")], "out of the range"),
    (["train", "--seed", str(2**64)], "Invalid value for '--seed'"),
    (["score", W("ok.npy"), "--benchmark", "ring8", "--seed", str(2**64)], "Invalid value for '--seed'"),
    # 7. damaged sample files, user generators, deep documents: one line, never a traceback
    (["score", W("objects.npy"), "--benchmark", "ring8"], "Python objects"),
    (["score", W("objects.npz"), "--benchmark", "ring8"], "Python objects"),
    (["score", W("crc.npz"), "--benchmark", "ring8"], "not a readable .npz file"),
    (["score", W("deflate.npz"), "--benchmark", "ring8"], "not a readable .npz file"),
    (["score", W("notes.npz"), "--benchmark", "ring8"], "not an .npy array"),
    (["score", W("huge.npz"), "--benchmark", "ring8"], "more than the"),
    (["score", W("sparse.pt"), "--benchmark", "ring8"], "sparse_coo tensor"),
    (["score", W("meta.pt"), "--benchmark", "ring8"], "meta device"),
    (["score", W("scalar.pt"), "--benchmark", "ring8"], "0-d tensor"),
    (["score", W("bomb"), "--real", W("bomb")], "not a readable image"),
    (["score", W("one_image.npy"), "--real", W("images.npy"), "--metrics", "fid"], "at least 2 images"),
    (["score", W("images.npy"), "--real", W("one_image.npy"), "--metrics", "kid"], "at least 2 images"),
    (["score", W("images3.npy"), "--benchmark", "stacked-mnist", "--n-real", "1", "--metrics", "fid"],
     "at least 2 images"),
    (["score", "--generator", W("gen_valueerror.py:G"), "--benchmark", "ring8"], "raised ValueError: bad configuration"),
    (["score", "--generator", W("gen_recursion.py:G"), "--benchmark", "ring8"], "raised RecursionError"),
    (["score", "--generator", W("gen_scalar.py:G"), "--benchmark", "ring8"], "one sample per latent"),
    (["score", "--generator", W("gen_meta.py:G"), "--benchmark", "ring8"], "meta device"),
    (["score", "--generator", W("gen_keyerror.py:G"), "--benchmark", "ring8"], "raised KeyError"),
    (["score", "--generator", "torch:zeros", "--latent", "normal:100000x100000x100000", "--benchmark", "ring8"],
     "values per latent"),
    (["check", W("bench"), "--baseline", W("deep.json")], "nests deeper than"),
    (["check", W("bench"), "--baseline", W("baseline_1e308.json")], "out of the range"),
    (["check", W("bench"), "--baseline", W("baseline_bigint.json")], "out of the 64-bit range"),
    (["bench", "--spec", W("deep.toml")], "nests deeper than"),
    (["bench", "--spec", W("deep_tables.toml")], "nests deeper than"),
    # 8. user code never decides ganeval's exit status
    (["score", "--generator", W("gen_exit7.py:G"), "--benchmark", "ring8"], "called sys.exit(7)"),
    (["score", "--generator", W("gen_exit0.py:G"), "--benchmark", "ring8"], "called sys.exit(0)"),
    (["score", "--generator", W("gen_exit0.py:G"), "--benchmark", "ring8", "--json"], "called sys.exit(0)"),
    # 9. a refusal leaves nothing behind (the tree walk below checks every case)
    (["score", W("objects.npz"), "--benchmark", "ring8", "--out", "{tmp}/NEW"], "Python objects"),
    (["score", "--generator", W("gen_exit0.py:G"), "--benchmark", "ring8", "--out", "{tmp}/NEW"], "sys.exit(0)"),
    (["report", W("bench"), "-o", W("empty")], "Is a directory"),
    (["data", "fetch", "mnist", "--root", W("missing"), "--no-download"], "MNIST folder not found"),
]


CASES += [  # issue 35, "hardening, fourth round" (findings 1, 2 and 4 have tests of their own below)
    # 3. -o / --out never land on a run's files, a bench's own files, or anything that is not a report
    (["report", W("bench"), "-o", W("bench/ring8/bce/seed-0/metrics.json")], "lies inside the run folder"),
    (["report", W("bench"), "-o", W("bench/ring8/bce/seed-0/new-report.md")], "lies inside the run folder"),
    (["report", W("bench"), "-o", W("bench/spec.toml")], "is a file of the bench"),
    (["report", W("bench"), "-o", W("bench/results.csv")], "is a file of the bench"),
    (["report", W("bench"), "--format", "csv", "-o", W("bench/ring8/bce/seed-0/config.json")],
     "lies inside the run folder"),
    (["report", W("bench"), "-o", W("report_notes.md")], "is not a report ganeval wrote"),
    (["report", W("bench"), "--format", "csv", "-o", W("report_notes.md")], "is not a csv table"),
    (["report", W("run"), "-o", W("run/checkpoints/x.md")], "lies inside the run folder"),
    (["baseline", "init", W("bench"), "-o", W("bench/ring8/bce/seed-0/b.json")], "lies inside the run folder"),
    (["check", W("bench"), "--baseline", W("bench/spec.toml"), "--update", "--retrack"], "is a file of the bench"),
    ([*S, "--out", W("bench/ring8/bce/seed-0")], "is the run folder"),
    ([*S, "--out", W("run/sub")], "lies inside the run folder"),
    (["bench", *TINY, "--out", W("run")], "is the run folder"),
    (["train", *TINY, "--out", W("run/nested")], "lies inside the run folder"),
    # 5. nothing is written that ganeval would refuse to read back
    (["check", W("bench"), "--baseline", W("baseline.json"), "--update", "--tolerance", "kl=1e200"],
     "must be at most 1e+150"),
    (["baseline", "init", W("bench"), "-o", "{tmp}/new.json", "--tolerance", "kl=1e200"], "must be at most 1e+150"),
    (["score", W("ok.npy"), "--centers", W("centers.npy"), "--std", "1e308", "--out", "{tmp}/o"],
     "--std must be a positive number of at most"),
    (["list", "--plugin", W("plugin_big_default.py")], "at most 1e+150"),
    (["list", "--plugin", W("plugin_big_int.py")], "within the 64-bit range"),
    (["bench", "--plugin", W("plugin_float_knob.py"), "--variants", "r4-knob", "--set", "r4_float=1e200"],
     "at most 1e+150"),
    (["list", "--plugin", W(os.fsdecode(b"plugin-\xff.py"))], "is not valid UTF-8"),
    # 6. layers.json of --trace is read like every document: regular, bounded, checked
    ([*S, "--trace", W("traced_link"), "--out", "{tmp}/o"], "layers.json: unreadable"),
    ([*S, "--trace", W("traced_fifo"), "--out", "{tmp}/o"], "is a FIFO"),
    # 7. one line, never a traceback
    (["list", "--plugin", W("plugin_base_exc.py")], "raised Boom: no"),
    (["list", "--plugin", W("plugin_generator_exit.py")], "raised GeneratorExit: bye"),
    (["list", "--plugin", W("plugin_bad_str.py")], "raised Weird"),
    (["bench", "--plugin", W("plugin_check_raises.py"), "--variants", "r4-check", "--set", "r4_knob=9"],
     "the check of setting 'r4_knob' raised ZeroDivisionError"),
    (["bench", "--plugin", W("plugin_bad_factory.py"), "--benchmarks", "r4-broken"],
     "the factory of benchmark 'r4-broken' raised RuntimeError: no data"),
    (["score", W("ok.npy"), "--centers", W("centers_2m.npy"), "--std", "0.1"], "more than the 100,000"),
    # 9. numbers on the command line are ASCII decimal digits
    (["check", W("bench"), "--baseline", W("baseline.json"), "--tolerance", "kl=５"], "decimal digits"),
    (["check", W("bench"), "--baseline", W("baseline.json"), "--tolerance", "kl=1_0"], "decimal digits"),
    (["bench", "--set", "steps=1_0"], "'steps' must be an integer"),
    (["bench", "--set", "steps=１０"], "'steps' must be an integer"),
    (["bench", "--steps", "５"], "is not a valid integer"),
    (["bench", "--seeds", "３"], "expects a count"),
    (["check", W("bench"), "--baseline", W("baseline.json"), "--alpha", "０.5"], "is not a valid number"),
    (["score", "--generator", "torch:zeros", "--latent", "normal:１００", "--benchmark", "ring8"], "--latent must be"),
    ([*S, "--seed", "1_0"], "is not a valid integer"),
]


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def tree(root):
    """Every entry below ``root`` (folders, files, links, FIFOs; never opened): a folder as None, any
    other entry as (size, mtime). Two walks differ if a command created, removed or wrote anything."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = None if stat.S_ISDIR(st.st_mode) else (st.st_size, st.st_mtime_ns)
    return out


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


def run_at_once(argv, seconds=120):
    """``main(argv)``, failing the test (never hanging it) if the command blocks, e.g. on a FIFO."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        return main(argv)
    except _Hang:
        pytest.fail(f"{argv} hung for {seconds} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a)[:60].encode("unicode_escape").decode()
                                                      for a, _ in CASES])
def test_bad_input(world, argv, message, capsys, monkeypatch, tmp_path, tmp_path_factory):
    monkeypatch.chdir(tmp_path)  # a command that would write by default writes here, and must not
    monkeypatch.setenv("GANEVAL_HOME", str(tmp_path / "home"))
    argv = [a.replace("{world}", str(world)).replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "bench" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    before, everything = snapshot(world), tree(tmp_path_factory.getbasetemp())
    code = run_at_once(argv)
    out, err = capsys.readouterr()
    err = "".join(line for line in err.splitlines(True) if not line.startswith("... "))  # score's progress lines
    assert code == 2, err
    assert message in err, err
    assert err.startswith("ganeval: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert snapshot(world) == before
    assert tree(tmp_path_factory.getbasetemp()) == everything  # nothing created, changed or removed anywhere


def test_a_report_that_fails_leaves_results_csv_as_it_was(world, tmp_path, monkeypatch, capsys):
    import shutil

    from ganeval import bench_report as report

    bench = tmp_path / "bench"
    shutil.copytree(world / "bench", bench)
    (bench / "results.csv").write_text("what was there\n")
    monkeypatch.setattr(report, "settings_table", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError):
        report.build_report(bench)
    assert (bench / "results.csv").read_text() == "what was there\n"


def test_report_of_a_copy_of_a_benchs_results_replaces_nothing(tmp_path, capsys):
    """The committed study (results.csv, report.md, figures; no seed-run folders): `ganeval report`
    on it rebuilt from no runs and wrote an empty results.csv over its 150 rows, exit 0."""
    import shutil
    from pathlib import Path

    study = Path(__file__).resolve().parents[1] / "reports" / "studies" / "lr-study-2d"
    copy = tmp_path / "study"
    shutil.copytree(study, copy)
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert main(["report", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results.csv has 150 rows but the folder holds no seed-run folders" in err
    assert {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before
    assert main(["report", str(copy), "--format", "csv"]) == 2  # a table needs the runs too
    assert {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


def test_a_full_disk_is_one_line_and_the_bench_resumes(tmp_path, capsys, monkeypatch):
    import os

    from ganeval import fileio

    out = tmp_path / "b"
    args = ["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "1", *TINY, "--out", str(out)]
    real_fdopen, writes = os.fdopen, {"n": 0}

    class Full:  # the disk fills up at the 12th file written
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            writes["n"] += 1
            if writes["n"] >= 12:
                raise OSError(28, "No space left on device")
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

    monkeypatch.setattr(fileio.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    assert main(args) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # (above it: the bench's progress lines)
    assert last.startswith("ganeval: error: cannot write") and "No space left on device" in last, err
    assert "Traceback" not in err and "FAILED" not in err  # a machine fault stops the bench, it fails no cell
    assert not list(out.rglob("*.tmp")) and not (out / ".ganeval.lock").exists()
    monkeypatch.setattr(fileio.os, "fdopen", real_fdopen)
    assert main(args) == 0  # space freed: the same command finishes the bench
    assert (out / "ring8" / "bce" / "seed-0" / "metrics.json").exists()


def test_train_into_a_run_folder_of_a_bench_that_is_running_is_refused(world, tmp_path, capsys):
    import shutil

    from ganeval.rundir import folder_lock

    bench = tmp_path / "bench"
    shutil.copytree(world / "bench", bench)
    before = snapshot(bench)
    with folder_lock(bench):  # a bench is writing this folder
        code = main(["train", "--benchmark", "ring8", "--loss", "bce", *TINY, "--out",
                     str(bench / "ring8" / "bce" / "seed-0"), "--no-resume"])
    err = capsys.readouterr().err
    assert code == 2 and "in use by another ganeval" in err, err
    after = snapshot(bench)
    after.pop(".ganeval.lock.owner", None)
    before.pop(".ganeval.lock.owner", None)
    assert after == before


def test_cuda_without_cuda(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["bench", *TINY, "--device", "cuda", "--out", str(tmp_path / "b")]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_the_table_is_long_enough():
    assert len(CASES) >= 50


def test_no_folder_is_left_locked(world):
    from ganeval.rundir import folder_lock

    for folder in (world / "bench", world / "run"):
        with folder_lock(folder):  # would raise "in use by another ganeval" if anything still held it
            pass


# --- corrupt files: every document ganeval reads back ---------------------------------------------
def _json_edit(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def _checkpoint_edit(path, fn):
    from ganeval import fileio

    payload = torch.load(path, weights_only=True)
    fn(payload)
    fileio.save_tensors(path, payload)  # a valid hash: the content itself is wrong


M0 = "bench/ring8/bce/seed-0"
CK = "run/checkpoints/step-30.pt"
CORRUPT = [
    # (what, setup(root), argv, exit code, message on stderr)
    ("metrics.json: a string for a number", lambda r: _json_edit(r / M0 / "metrics.json", lambda d: d["metrics"].update(kl="abc")),
     ["report", "{r}/bench"], 0, "1 unreadable seed-run(s) left out"),
    ("metrics.json: a string seed", lambda r: _json_edit(r / M0 / "metrics.json", lambda d: d.update(seed="zero")),
     ["report", "{r}/bench"], 0, "1 unreadable seed-run(s) left out"),
    ("metrics.json: metrics a list", lambda r: _json_edit(r / M0 / "metrics.json", lambda d: d.update(metrics=[1])),
     ["report", "{r}/bench"], 0, "1 unreadable seed-run(s) left out"),
    ("events.json: wrong shape", lambda r: (r / M0 / "events.json").write_text('{"events": {"a": 1}}'),
     ["report", "{r}/bench"], 0, ""),
    ("events.json: items not events", lambda r: (r / M0 / "events.json").write_text('{"events": [1, 2]}'),
     ["report", "{r}/bench"], 0, "events are re-detected"),
    ("trace.csv: random bytes", lambda r: (r / M0 / "trace.csv").write_bytes(bytes(range(256)) * 8),
     ["report", "{r}/bench"], 0, "unreadable"),
    ("spec.toml: random bytes", lambda r: (r / "bench" / "spec.toml").write_bytes(bytes(range(256)) * 8),
     ["report", "{r}/bench"], 0, ""),
    ("spec.toml: wrong types", lambda r: (r / "bench" / "spec.toml").write_text('benchmarks = 5\nseeds = "x"\n'),
     ["report", "{r}/bench"], 0, "the report leaves the spec out"),
    ("env.json: wrong types", lambda r: (r / "bench" / "env.json").write_text('{"wall_time_s": "x", "git_commit": 5}'),
     ["report", "{r}/bench"], 0, "'git_commit' must be a string"),
    ("env.json: a list", lambda r: (r / "bench" / "env.json").write_text("[1, 2]"), ["report", "{r}/bench"], 0, ""),
    ("a traced folder with a corrupt trace.csv", lambda r: (r / "run" / "trace.csv").write_bytes(bytes(range(256)) * 8),
     ["report", "{r}/run"], 2, "has no readable row"),
    ("report -o naming a folder", lambda r: None, ["report", "{r}/bench", "-o", "{r}/bench/ring8"], 2, "Is a directory"),
    ("report --format -o naming a folder", lambda r: None, ["report", "{r}/bench", "--format", "md", "-o", "{r}/bench"], 2,
     "Is a directory"),
    ("trace report -o naming a folder", lambda r: None, ["report", "{r}/run", "-o", "{r}/run/checkpoints"], 2,
     "Is a directory"),
    ("eval: config.json with a string seed", lambda r: _json_edit(r / "run" / "config.json", lambda d: d.update(seed="one")),
     ["eval", "{r}/run"], 2, "'seed' must be an integer, got 'one'"),
    ("eval: config.json a list", lambda r: (r / "run" / "config.json").write_text("[1]"), ["eval", "{r}/run"], 2,
     "not a ganeval run config"),
    ("eval: a checkpoint without weights", lambda r: _checkpoint_edit(r / CK, lambda p: p.pop("G")),
     ["eval", "{r}/run", "--step", "30"], 2, "'G' missing"),
    ("eval: weights of the wrong shape", lambda r: _checkpoint_edit(
        r / CK, lambda p: p["G"].update({next(iter(p["G"])): torch.zeros(3, 3, 3)})),
     ["eval", "{r}/run", "--step", "30"], 2, "generator weights do not fit the run's architecture"),
    ("eval: a non-numeric elapsed", lambda r: _checkpoint_edit(r / CK, lambda p: p.update(elapsed="soon")),
     ["eval", "{r}/run", "--step", "30"], 2, "'elapsed' must be a number"),
    ("eval: newest checkpoint corrupt, falls back", lambda r: _checkpoint_edit(r / CK, lambda p: p.pop("D")),
     ["eval", "{r}/run"], 0, "skipping corrupt checkpoint"),
    ("check: baseline format a string", lambda r: _json_edit(r / "baseline.json", lambda d: d.update(format="one")),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "'format' must be an integer"),
    ("check: baseline values not a list", lambda r: _json_edit(
        r / "baseline.json", lambda d: [m.update(values=5) for m in d["metrics"].values()]),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "'values' must be a list"),
    ("check: baseline value a string", lambda r: _json_edit(
        r / "baseline.json", lambda d: [m.update(values=["a"]) for m in d["metrics"].values()]),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "'values[0]' must be a number or null"),
    ("check: baseline floor a string", lambda r: _json_edit(
        r / "baseline.json", lambda d: [m["tolerance"].update(floor="x") for m in d["metrics"].values()]),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "'floor' must be a number"),
    ("check: baseline tolerance a string", lambda r: _json_edit(
        r / "baseline.json", lambda d: [m.update(tolerance="x") for m in d["metrics"].values()]),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "'tolerance' must be a table"),
    ("check --update on a read-only baseline", lambda r: (r / "baseline.json").chmod(0o444),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json", "--update"], 2, "is read-only"),
]


def _replace(path, make):
    path.unlink()
    make(path)


def _fifo(path):
    _replace(path, os.mkfifo)


def _zero(path):
    _replace(path, lambda p: os.symlink("/dev/zero", p))


def _raw_edit(path, old, new):
    path.write_text(path.read_text().replace(old, new, 1))


def _non_utf8_folder(r):
    import shutil

    shutil.copytree(r / M0, r / "bench" / "ring8" / os.fsdecode(b"bce-\xff") / "seed-0")


CORRUPT += [
    # 4. FIFOs and devices inside a run or bench folder: one line, exit 2, at once
    ("metrics.json: a FIFO", lambda r: _fifo(r / M0 / "metrics.json"), ["report", "{r}/bench"], 2, "is a FIFO"),
    ("metrics.json: a link to /dev/zero", lambda r: _zero(r / M0 / "metrics.json"), ["report", "{r}/bench"], 2,
     "is a device"),
    ("events.json: a FIFO", lambda r: _fifo(r / M0 / "events.json"), ["report", "{r}/bench"], 2, "is a FIFO"),
    ("spec.toml: a link to /dev/zero", lambda r: _zero(r / "bench" / "spec.toml"), ["report", "{r}/bench"], 2,
     "is a device"),
    ("trace.csv: a FIFO", lambda r: _fifo(r / "run" / "trace.csv"), ["report", "{r}/run"], 2, "is a FIFO"),
    ("config.json: a FIFO", lambda r: _fifo(r / "run" / "config.json"), ["eval", "{r}/run"], 2, "is a FIFO"),
    ("a checkpoint sidecar: a FIFO", lambda r: _fifo(r / (CK + ".sha256")), ["eval", "{r}/run", "--step", "30"], 2,
     "no checksum sidecar"),
    ("check: metrics.json a FIFO", lambda r: _fifo(r / M0 / "metrics.json"),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "is a FIFO"),
    # 3. a name read back from a file never leads outside the folder
    ("metrics.json: benchmark ../../evil", lambda r: _json_edit(r / M0 / "metrics.json",
                                                                lambda d: d.update(benchmark="../../evil")),
     ["report", "{r}/bench"], 0, "contains a path separator"),
    ("metrics.json: benchmark ../../../../outside/evil", lambda r: _json_edit(
        r / M0 / "metrics.json", lambda d: d.update(benchmark="../../../../outside/evil")),
     ["report", "{r}/bench"], 0, "1 unreadable seed-run(s) left out"),
    ("metrics.json: loss /abs", lambda r: _json_edit(r / M0 / "metrics.json", lambda d: d.update(loss="/abs")),
     ["report", "{r}/bench"], 0, "1 unreadable seed-run(s) left out"),
    ("config.json: benchmark ../../evil", lambda r: _json_edit(r / "run" / "config.json",
                                                               lambda d: d.update(benchmark="../../evil")),
     ["eval", "{r}/run"], 2, "different configuration"),
    # 7. numbers and nesting no reader can use
    ("metrics.json: kl 1e308", lambda r: _raw_edit(r / M0 / "metrics.json", '"kl": ', '"kl": 1e308, "x": '),
     ["report", "{r}/bench"], 0, "out of the range"),
    ("metrics.json: a 400-digit integer", lambda r: _raw_edit(r / M0 / "metrics.json", '"step": ', '"step": 1' + "0" * 400 + ', "x": '),
     ["report", "{r}/bench"], 0, "out of the 64-bit range"),
    ("metrics.json: nested 100,000 deep", lambda r: (r / M0 / "metrics.json").write_text("[" * DEEP + "]" * DEEP),
     ["report", "{r}/bench"], 0, "nests deeper than"),
    ("check: metrics.json kl 1e308", lambda r: _raw_edit(r / M0 / "metrics.json", '"kl": ', '"kl": 1e308, "x": '),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "out of the range"),
    ("baseline init: metrics.json kl 1e308", lambda r: _raw_edit(r / M0 / "metrics.json", '"kl": ', '"kl": 1e308, "x": '),
     ["baseline", "init", "{r}/bench", "-o", "{r}/new-baseline.json"], 2, "a check or baseline needs every seed-run"),
    ("config.json: nested 100,000 deep", lambda r: (r / "run" / "config.json").write_text("{\"a\": " * DEEP + "1" + "}" * DEEP),
     ["eval", "{r}/run"], 2, "nests deeper than"),
    ("spec.toml: nested 100,000 deep", lambda r: (r / "bench" / "spec.toml").write_text("x = " + "[" * DEEP + "]" * DEEP),
     ["report", "{r}/bench"], 0, ""),
    ("trace.csv: inf in the step column", lambda r: (r / "run" / "trace.csv").write_text(
        (r / "run" / "trace.csv").read_text() + "inf" + ",1" * 3 + "\n"), ["report", "{r}/run"], 0, ""),
    ("a folder name that is not UTF-8", _non_utf8_folder, ["report", "{r}/bench"], 0, "does not write; left out"),
    ("samples.pt.sha256 not UTF-8", lambda r: (r / M0 / "samples.pt.sha256").write_bytes(b"\xff\xfe" * 40),
     ["report", "{r}/bench"], 0, "no checksum sidecar"),
    ("a checkpoint sidecar not UTF-8", lambda r: (r / (CK + ".sha256")).write_bytes(b"\xff\xfe" * 40),
     ["eval", "{r}/run", "--step", "30"], 2, "no checksum sidecar"),
]
#: files a command that succeeds is there to (re)write
OUTPUTS = ("report.md", "results.csv", "figures/", "eval/")


@pytest.mark.parametrize("what, setup, argv, code, message", CORRUPT, ids=[c[0] for c in CORRUPT])
def test_corrupt_files(world, tmp_path, capsys, caplog, what, setup, argv, code, message, tmp_path_factory):
    import shutil

    for name in ("bench", "run", "baseline.json"):
        (shutil.copytree if (world / name).is_dir() else shutil.copy)(world / name, tmp_path / name)
    setup(tmp_path)
    before = {k: v for k, v in snapshot(tmp_path).items() if not any(o in k for o in OUTPUTS)}
    base = tmp_path_factory.getbasetemp()  # this session's whole tree (other sessions' change on their own)
    inside = os.path.relpath(tmp_path, base)
    outside = [base.parent / "outside", base / "outside", base.parent / "evil-samples.png"]
    elsewhere = {k: v for k, v in tree(base).items() if not k.startswith(inside)}
    capsys.readouterr()
    result = run_at_once([a.replace("{r}", str(tmp_path)) for a in argv])
    captured = capsys.readouterr().err
    err = captured + caplog.text
    assert result == code, err
    assert message in err and "Traceback" not in err, err
    if code == 2:
        assert captured.count("\n") == 1, captured
    after = {k: v for k, v in snapshot(tmp_path).items() if not any(o in k for o in OUTPUTS)}
    assert after == before  # nothing it read was changed or removed, nothing written beside it
    assert {k: v for k, v in tree(base).items() if not k.startswith(inside)} == elsewhere  # nor anywhere else
    assert not any(p.exists() for p in outside)  # where the names of '../../../../outside/evil' would lead


def test_the_tables_cover_every_case_named_in_the_hardening_issue():
    assert len(CASES) + len(CORRUPT) >= 90


# --- 2. every writer takes the folder's lock, the bench's included -----------------------------------
LOCKED = [
    ["score", "{w}/ok.npy", "--benchmark", "ring8", "--out", "{b}", "--name", "new"],
    ["eval", "{b}/ring8/bce/seed-0"],
    ["eval", "{b}/ring8/bce/seed-0", "--step", "10"],
    ["report", "{b}"],
    ["report", "{b}/ring8/bce/seed-0"],
    ["train", "--benchmark", "ring8", "--loss", "bce", *TINY, "--out", "{b}/ring8/bce/seed-0"],
    ["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "2", *TINY, "--out", "{b}", "--no-report"],
]


@pytest.mark.parametrize("argv", LOCKED, ids=[" ".join(a[:3]) for a in LOCKED])
def test_a_writer_into_a_bench_that_is_running_is_refused(world, tmp_path, capsys, argv):
    import shutil

    from ganeval.rundir import folder_lock

    bench = tmp_path / "bench"
    shutil.copytree(world / "bench", bench)
    before = tree(bench)
    with folder_lock(bench):  # a bench is writing this folder
        code = run_at_once([a.format(w=world, b=bench) for a in argv])
        after = {k: v for k, v in tree(bench).items() if not k.startswith(".ganeval.lock")}
    err = capsys.readouterr().err
    assert code == 2 and "in use by another ganeval" in err and err.count("\n") == 1, err
    assert after == {k: v for k, v in before.items() if not k.startswith(".ganeval.lock")}


# --- 8. user code: its prints go to stderr, its exits are ganeval's refusals --------------------------
def test_a_generator_that_prints_leaves_json_valid(tmp_path, capfd):
    (tmp_path / "gen.py").write_text("import os, torch\nprint('loading weights')\n"
                                     "def G(z):\n    print('batch', len(z))\n    os.write(1, b'raw fd write\\n')\n"
                                     "    return torch.zeros(len(z), 2)\n")
    code = main(["score", "--generator", f"{tmp_path}/gen.py:G", "-n", "50", "--benchmark", "ring8", "--json"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert json.loads(out)["source"]["n"] == 50  # stdout is ganeval's JSON alone
    assert "loading weights" in err and "batch 50" in err and "raw fd write" in err


# --- 9. nothing left behind after a refusal -----------------------------------------------------------
def test_score_out_on_a_full_disk_leaves_no_config_without_metrics(world, tmp_path, capsys, monkeypatch):
    from ganeval import rundir

    real = rundir.write_metrics

    def full(run_dir, doc):
        raise __import__("ganeval.errors").errors.StorageError("cannot write metrics.json: No space left on device")

    monkeypatch.setattr(rundir, "write_metrics", full)
    out = tmp_path / "scores"
    argv = ["score", str(world / "ok.npy"), "--benchmark", "ring8", "--out", str(out)]
    assert main(argv) == 2
    assert "No space left" in capsys.readouterr().err
    assert not out.exists()  # neither config.json nor samples.pt nor the folders made for them
    (out / "ring8").mkdir(parents=True)  # a folder that was there before stays
    assert main(argv) == 2
    assert [p.name for p in out.rglob("*")] == ["ring8"]
    monkeypatch.setattr(rundir, "write_metrics", real)
    assert main(argv) == 0  # space freed: the same command files the score
    assert (out / "ring8" / "ok" / "seed-0" / "metrics.json").is_file()
    assert main(argv) == 2  # and a second time refuses to replace it
    assert "already holds a finished run" in capsys.readouterr().err


def test_eval_removes_the_temporary_files_a_kill_left(world, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(world / "run", run)
    stray = [run / ".metrics.json.k9x.tmp", run / "eval" / ".step-10.json.k9x.tmp"]
    for path in stray:
        path.parent.mkdir(exist_ok=True)
        path.write_text("half")
    assert main(["eval", str(run), "--step", "10"]) == 0, capsys.readouterr().err
    assert not any(p.exists() for p in stray)
    assert not list(run.rglob(".ganeval.lock*"))


def test_report_into_a_folder_writes_no_figures_before_refusing(world, tmp_path, capsys):
    (tmp_path / "adir").mkdir()
    assert main(["report", str(world / "bench"), "-o", str(tmp_path / "adir")]) == 2
    assert "Is a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["adir"]


def test_data_fetch_with_a_missing_root_fails_even_with_a_cache(tmp_path, capsys, monkeypatch):
    from ganeval.benchmarks import mnist_data

    monkeypatch.setattr(mnist_data, "from_cache", lambda path: pytest.fail("the cache must not hide a wrong --root"))
    assert main(["data", "fetch", "mnist", "--root", str(tmp_path / "missing"), "--no-download"]) == 2
    assert "MNIST folder not found" in capsys.readouterr().err


def test_the_largest_allowed_settings_are_refused_by_the_estimate_not_a_crash(tmp_path, capsys):
    from ganeval.spec import MAX_VALUE

    for key in ("hidden", "batch_size", "z_dim", "eval_samples"):
        code = main(["train", "--benchmark", "ring8", "--steps", "1", "--set", f"{key}={MAX_VALUE[key]}",
                     "--out", str(tmp_path / key)])
        err = capsys.readouterr().err
        assert code == 2 and "needs about" in err and "Traceback" not in err, err
        assert not (tmp_path / key).exists()


def test_a_bench_folder_whose_name_is_not_utf8_reports_in_valid_utf8(world, tmp_path, capsys):
    import shutil

    bench = tmp_path / os.fsdecode(b"bench-\xff")
    shutil.copytree(world / "bench", bench)
    assert main(["report", str(bench)]) == 0, capsys.readouterr().err
    assert "bench-\\udcff" in (bench / "report.md").read_bytes().decode("utf-8")  # escaped, never raw bytes
    assert main(["baseline", "init", str(bench), "-o", str(tmp_path / "b.json")]) == 0
    assert main(["check", str(bench), "--baseline", str(tmp_path / "b.json")]) == 0


# --- issue 35, finding 1: a bench folder someone sent never runs the code its spec.toml names ------
_MARK = "open({marker!r}, 'a').write('{name} ran\\n')\n"


@pytest.fixture
def received(world, tmp_path, monkeypatch):
    """A copy of the world's bench whose spec.toml names three plugins, each of which would leave a
    line in ``ran`` if imported: a file inside the folder (with a wrong recorded hash), a file
    anywhere else (an absolute path), and a module on the path."""
    import shutil

    bench = tmp_path / "sent"
    shutil.copytree(world / "bench", bench)
    marker, site = tmp_path / "ran", tmp_path / "site"
    site.mkdir()
    (bench / "inside.py").write_text(_MARK.format(marker=str(marker), name="inside"))
    (tmp_path / "outside.py").write_text(_MARK.format(marker=str(marker), name="outside"))
    (site / "sent_module.py").write_text(_MARK.format(marker=str(marker), name="module"))
    monkeypatch.syspath_prepend(str(site))
    spec = (bench / "spec.toml").read_text()
    named = (f'plugins = ["inside.py", "{tmp_path / "outside.py"}", "sent_module"]\n'
             f'plugin_sha256 = {{ "inside.py" = "{"0" * 64}" }}\n')
    (bench / "spec.toml").write_text(spec.replace("spec_version = 1\n", "spec_version = 1\n" + named, 1))
    return bench, marker


#: (command, exit status, what it may write: paths relative to the tmp folder)
READERS = [
    (["report", "{b}"], 0, ("sent/report.md", "sent/results.csv", "sent/figures")),
    (["report", "{b}", "--format", "csv"], 0, ()),
    (["baseline", "init", "{b}", "-o", "{t}/b.json"], 0, ("b.json",)),
    (["check", "{b}", "--baseline", "{w}/baseline.json"], 0, ()),
    (["eval", "{b}/ring8/bce/seed-0"], 0, tuple(f"sent/ring8/bce/seed-0/{name}" for name in  # evaluated again
                                               ("metrics.json", "events.json", "samples.p"))),
    (["score", "{w}/ok.npy", "--benchmark", "ring8", "--out", "{b}", "--name", "new"], 0, ("sent/ring8/new",)),
    (["bench", "--spec", "{b}/spec.toml", "--out", "{t}/again"], 2, ()),
]


@pytest.mark.parametrize("argv, code, writes", READERS, ids=[" ".join(a[:2]) for a, _, _ in READERS])
def test_a_received_bench_never_runs_the_plugins_its_spec_names(world, received, tmp_path, capsys, tmp_path_factory,
                                                              argv, code, writes):
    """`report`, `check` and `baseline init` imported whatever BENCH/spec.toml listed (a file in the
    folder, an absolute path, a module name). Now every command reading a folder works from its
    files and says in one line which plugins the folder names; `bench --spec` needs
    --load-spec-plugins. Nothing else anywhere in the tmp tree changes."""
    bench, marker = received
    base = tmp_path_factory.getbasetemp()
    inside = os.path.relpath(tmp_path, base)
    before = tree(base)
    result = run_at_once([a.format(b=bench, t=tmp_path, w=world) for a in argv])
    err = capsys.readouterr().err
    assert result == code, err
    assert not marker.exists(), marker.read_text()  # none of the three ran
    named = [line for line in err.splitlines() if "inside.py" in line]
    assert len(named) == 1 and "outside.py" in named[0] and "sent_module" in named[0], err
    assert "Traceback" not in err
    after = tree(base)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    allowed = tuple(os.path.join(inside, w) for w in writes)
    assert {k for k in changed if not k.startswith(allowed)} == set(), changed


def test_a_received_spec_runs_its_plugins_only_when_asked_and_checks_them_first(received, tmp_path, capsys):
    bench, marker = received
    code = main(["bench", "--spec", str(bench / "spec.toml"), "--out", str(tmp_path / "again"), "--load-spec-plugins"])
    err = capsys.readouterr().err
    assert code == 2 and "inside.py is not the code the bench recorded" in err and "none of it was run" in err, err
    assert not marker.exists() and not (tmp_path / "again").exists()


# --- issue 35, finding 4: user code cannot fake success ----------------------------------------------
_EXITING_LOSS = '''
import ganeval
from ganeval.losses import bce_d, bce_g

def d_loss(real, fake):
    {how}
    return bce_d(real, fake)

ganeval.register_loss(ganeval.Loss({name!r}, "exits", "", d_loss, lambda fake, real: bce_g(fake)))
'''


@pytest.mark.parametrize("name, how, said", [
    ("exit0-loss", "import sys; sys.exit(0)", "called sys.exit(0)"),
    ("base-loss", "raise type('Boom', (BaseException,), {})('mid-cell')", "raised Boom: mid-cell"),
])
def test_a_loss_that_exits_or_raises_a_base_exception_fails_its_cell(tmp_path, capsys, tmp_path_factory, name, how,
                                                                    said):
    """A plugin loss calling sys.exit(0) mid-training made `bench` exit 0, leaving a seed-run with
    only config.json and layers.json and no failure line."""
    plugin = tmp_path / f"{name}.py"
    plugin.write_text(_EXITING_LOSS.format(how=how, name=name))
    out = tmp_path / "b"
    base = tmp_path_factory.getbasetemp()
    before = {k: v for k, v in tree(base).items() if not k.startswith(os.path.relpath(out, base))}
    code = run_at_once(["bench", "--plugin", str(plugin), "--losses", name, "--benchmarks", "ring8", "--seeds", "1",
                        *TINY, "--out", str(out), "--no-report"])
    err = capsys.readouterr().err
    assert code == 1, err
    failed = [line for line in err.splitlines() if line.startswith("failed:")]
    assert failed == [f"failed: ring8/{name}: user code {said} during the cell"], err
    run = out / "ring8" / name / "seed-0"
    assert (run / "config.json").is_file() and not (run / "metrics.json").exists()
    assert {k: v for k, v in tree(base).items() if not k.startswith(os.path.relpath(out, base))} == before
    assert main(["report", str(out)]) == 0
    assert "1 incomplete" in (out / "report.md").read_text()  # a seed-run without metrics.json is a reported one
    capsys.readouterr()
    assert main(["baseline", "init", str(out), "-o", str(tmp_path / "b.json")]) == 2  # and never a silent gap
    assert "has no metrics.json (its cell failed or has not finished)" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def _ganeval(*args, timeout=300):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "ganeval", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("code, args, status, said", [
    # os._exit(0) in a loss: the cell fails (a child process, the Ray worker, would die the same way)
    ("import ganeval, os\nfrom ganeval.losses import bce_d, bce_g\n"
     "ganeval.register_loss(ganeval.Loss('osexit', 'x', '', lambda r, f: os._exit(0), lambda f, r: bce_g(f)))\n",
     ["bench", "--losses", "osexit", "--benchmarks", "ring8", "--seeds", "1", *TINY, "--no-report"], 1,
     "failed: ring8/osexit: user code called os._exit(0) during the cell"),
    # an exit handler that would turn the failure (an unknown loss: exit 2) into 0
    ("import atexit, os\natexit.register(lambda: os._exit(0))\n", ["bench", "--losses", "nope"], 2,
     "unknown loss 'nope'"),
    # os._exit(0) at import: one line naming the plugin
    ("import os\nos._exit(0)\n", ["list"], 2, "called os._exit(0)"),
])
def test_os_exit_and_exit_handlers_in_a_plugin_never_turn_a_failure_into_success(tmp_path, tmp_path_factory, code,
                                                                                args, status, said):
    plugin = tmp_path / "exits.py"
    plugin.write_text(code)
    out = tmp_path / "b"
    base = tmp_path_factory.getbasetemp()
    before = {k: v for k, v in tree(base).items() if not k.startswith(os.path.relpath(out, base))}
    res = _ganeval(*args, "--plugin", plugin, *(["--out", out] if args[0] == "bench" else []))
    assert res.returncode == status, res.stderr
    assert said in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (out / "ring8" / "osexit" / "seed-0" / "metrics.json").exists()
    assert {k: v for k, v in tree(base).items() if not k.startswith(os.path.relpath(out, base))} == before


def test_a_thread_a_plugin_leaves_running_does_not_keep_the_command_alive(tmp_path, tmp_path_factory):
    """`ganeval list --plugin p.py` where p.py starts a non-daemon thread that waits forever (on an
    event nobody sets) never exited; now it says so in one line and exits with its own status."""
    plugin = tmp_path / "forever.py"
    plugin.write_text("import threading\nthreading.Thread(target=threading.Event().wait, name='waits-forever').start()\n")
    before = tree(tmp_path_factory.getbasetemp())
    res = _ganeval("list", "--plugin", plugin, timeout=120)  # before the fix: TimeoutExpired
    assert res.returncode == 0 and "ring8" in res.stdout
    assert res.stderr.strip().splitlines() == [
        "warning: user code left 1 thread(s) running ('waits-forever'); ganeval exits without waiting for them"]
    assert tree(tmp_path_factory.getbasetemp()) == before


# --- issue 35, finding 8: score estimates memory before it reads an array ---------------------------
def test_an_npy_header_claiming_more_than_memory_is_refused_before_it_is_read(tmp_path, capsys, monkeypatch,
                                                                             tmp_path_factory):
    """An .npy header of [1.1e9, 2] on a sparse file was read in full; the estimate now refuses it
    first. The machine's memory is set small here so the test means the same everywhere."""
    from ganeval import feasibility

    path = tmp_path / "sparse.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 2), dtype=np.float32))
    header["shape"] = (20_000_000, 2)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.truncate(fh.tell() + 20_000_000 * 2 * 4)  # a sparse file: no data written
    monkeypatch.setattr(feasibility, "available_bytes", lambda device: (1 << 30, "available RAM"))
    reads = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: reads.append(a) or real_load(*a, **k))
    before = tree(tmp_path_factory.getbasetemp())
    code = run_at_once(["score", str(path), "--benchmark", "ring8", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "needs about 1.3 GiB to score" in err and "1.0 GiB available RAM" in err, err
    assert err.count("\n") == 1 and reads == []  # refused from the header alone
    assert tree(tmp_path_factory.getbasetemp()) == before


# --- issue 35, finding 3: -o replaces only what it wrote itself --------------------------------------
def test_report_o_replaces_its_own_earlier_report_and_table(world, tmp_path, capsys):
    out = tmp_path / "r.md"
    assert main(["report", str(world / "bench"), "-o", str(out)]) == 0
    first = out.read_text()
    assert first.startswith("# ganeval report")
    assert main(["report", str(world / "bench"), "-o", str(out)]) == 0  # its own report: replaced
    for fmt in ("csv", "md", "latex", "json"):
        table = tmp_path / f"t.{fmt}"
        assert main(["report", str(world / "bench"), "--format", fmt, "-o", str(table)]) == 0
        assert main(["report", str(world / "bench"), "--format", fmt, "-o", str(table)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["report", str(world / "bench"), "--format", "csv", "-o", str(out)]) == 2  # a report is not a table
    assert "is not a csv table" in capsys.readouterr().err and out.read_text().startswith("# ganeval report")

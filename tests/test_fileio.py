"""Atomic writes, hashed tensors, and the one rule every loader shares: a pickle that carries code
is refused and its code never runs, whichever door it comes in by."""

import pytest
import torch

from ganeval import fileio, rundir
from ganeval.errors import IntegrityError


def _classifier(path):
    from ganeval.metrics import classifier as clf

    clf.load_classifier(path, expected_sha256=fileio.sha256_file(path))


def _inception(path):
    from ganeval.metrics.fidelity import check_inception_weights

    check_inception_weights(path)


def _lpips(path):
    from ganeval.metrics.lpips import BACKBONE_FILE, LINEAR_FILE, LPIPS

    for name in (BACKBONE_FILE, LINEAR_FILE):
        (path.parent / name).write_bytes(path.read_bytes())
    LPIPS(path.parent)


def _checkpoint(path):
    from ganeval.rundir import checkpoint_path
    
    run_dir = path.parent / "run"
    target = checkpoint_path(run_dir, 20)
    target.parent.mkdir(parents=True)
    target.write_bytes(path.read_bytes())
    fileio.sidecar(target).write_text(fileio.sha256_file(target) + "\n")  # the hash matches: only content is wrong
    rundir.load_checkpoint(run_dir, 20)


@pytest.mark.parametrize("load", [_classifier, _inception, _lpips, _checkpoint])
def test_a_pickle_with_code_is_refused_and_never_run(load, evil, tmp_path):
    (tmp_path / "weights").mkdir()
    path = evil(tmp_path / "weights" / "evil.pt", "fc.weight")
    with pytest.raises(IntegrityError, match="refused to load"):
        load(path)
    assert not evil.ran()


def test_writes_are_atomic_and_leave_no_temporary_file(tmp_path):
    fileio.write_json(tmp_path / "a" / "doc.json", {"x": float("nan"), "y": [1.0, float("inf")]})
    assert fileio.read_json(tmp_path / "a" / "doc.json") == {"x": None, "y": [1.0, None]}  # JSON has no NaN
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["doc.json"]


def test_a_tensor_file_is_checked_against_its_sidecar(tmp_path):
    path = tmp_path / "t.pt"
    digest = fileio.save_tensors(path, {"w": torch.arange(3.0)})
    assert fileio.sidecar(path).read_text().split()[0] == digest
    assert torch.equal(fileio.load_tensors(path)["w"], torch.arange(3.0))
    data = bytearray(path.read_bytes())
    data[-20] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="SHA-256 mismatch"):
        fileio.load_tensors(path)
    fileio.sidecar(path).unlink()
    with pytest.raises(IntegrityError, match="no checksum sidecar"):
        fileio.load_tensors(path)


def test_a_read_only_file_is_never_replaced_and_a_replaced_file_keeps_its_mode(tmp_path):
    from ganeval.errors import RunFolderError

    path = tmp_path / "baseline.json"
    fileio.write_text(path, "one")
    path.chmod(0o444)
    with pytest.raises(RunFolderError, match="read-only"):
        fileio.write_text(path, "two")  # refused even for root, who may write anything
    assert path.read_text() == "one"
    path.chmod(0o640)
    fileio.write_text(path, "three")
    assert path.read_text() == "three" and (path.stat().st_mode & 0o777) == 0o640


# --- the one reader every document goes through -----------------------------------------------------
def test_readers_refuse_fifos_and_devices_at_once(tmp_path):
    import os
    import time

    from ganeval.errors import DataError

    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "zero.json")
    t0 = time.perf_counter()
    for path, kind in ((tmp_path / "fifo", "a FIFO"), (tmp_path / "zero.json", "a device"), ("/dev/zero", "a device")):
        for read in (fileio.read_bytes, fileio.read_text, fileio.read_json, fileio.sha256_file):
            with pytest.raises(DataError, match=f"is {kind}, not a regular file"):
                read(path)
    assert time.perf_counter() - t0 < 5  # nothing waited for a writer or read an endless device
    os.symlink(tmp_path / "real.json", tmp_path / "link.json")  # a link to a regular file is read
    (tmp_path / "real.json").write_text('{"a": 1}')
    assert fileio.read_json(tmp_path / "link.json") == {"a": 1}
    with pytest.raises(IsADirectoryError):
        fileio.read_bytes(tmp_path)
    with pytest.raises(FileNotFoundError):
        fileio.read_bytes(tmp_path / "missing")


def test_readers_bound_size_depth_and_numbers(tmp_path):
    from ganeval.errors import DataError

    (tmp_path / "big").write_bytes(b"x" * 1001)
    with pytest.raises(DataError, match="1,001 bytes, more than the 1,000"):
        fileio.read_bytes(tmp_path / "big", 1000)
    assert fileio.loads_json("[" * 32 + "]" * 32)  # 32 levels: read
    for text, message in (("[" * 33 + "]" * 33, "nests deeper than 32"), ("[" * 10**5 + "]" * 10**5, "nests deeper"),
                          ('{"kl": 1e308}', "out of the range"), ('{"kl": 1e999}', "out of the range"),
                          ('{"n": 1' + "0" * 400 + "}", "64-bit range"), ('{"n": 9223372036854775808}', "64-bit"),
                          ('{"x": NaN}', "not a JSON number"), ('{"x": -Infinity}', "not a JSON number")):
        with pytest.raises(ValueError, match=message):
            fileio.loads_json(text)
    assert fileio.loads_json('{"kl": 1e150, "n": -9223372036854775808}') == {"kl": 1e150, "n": -2**63}
    import tomllib

    for text in ("x = " + "[" * 10**5 + "]" * 10**5, "[" + ".".join("a" * 40) + "]", "x = 1e308"):
        with pytest.raises(tomllib.TOMLDecodeError):
            fileio.loads_toml(text)


@pytest.mark.parametrize("name, ok", [
    ("bce", True), ("bce-sn+ttur", True), ("my run 2", True), ("ring8", True),
    ("", False), (".", False), ("..", False), ("../x", False), ("/abs", False), ("a\\b", False), (".hidden", False),
    ("-flag", False), ("a\nb", False), ("a\x00b", False), (" padded ", False), ("x" * 201, False),
    ("bad-\udcff", False), (None, False), (3, False),
])
def test_a_name_that_becomes_a_path_is_one_plain_component(name, ok, tmp_path):
    from ganeval.errors import RunFolderError

    assert (fileio.name_problem(name) is None) == ok
    if ok:
        assert fileio.safe_join(tmp_path, name).parent == tmp_path
    else:
        with pytest.raises(RunFolderError, match="one plain folder or file name"):
            fileio.safe_join(tmp_path, name)


def test_an_output_file_is_checked_before_any_work(tmp_path):
    import os

    from ganeval.errors import RunFolderError

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "ro.md").write_text("x")
    (tmp_path / "ro.md").chmod(0o444)
    (tmp_path / "file").write_text("x")
    for path, message in ((tmp_path, "Is a directory"), (tmp_path / "fifo", "not a regular file"),
                          (tmp_path / "ro.md", "read-only"), (tmp_path / "file" / "x.md", "Not a directory")):
        with pytest.raises(RunFolderError, match=message):
            fileio.check_output_file(path)
    assert fileio.check_output_file(tmp_path / "new" / "report.md") == tmp_path / "new" / "report.md"
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("doc, message", [
    ({"tolerance": 1e200}, "out of the range"), ({"n": 2**70}, "out of the 64-bit range"),
    ({"deep": __import__("functools").reduce(lambda inner, _: [inner], range(40), 1)}, "nests deeper than"),
])
def test_json_that_would_not_read_back_is_never_written(tmp_path, doc, message):
    """Issue 35, finding 5: ganeval wrote baselines and metrics its own readers then refused."""
    from ganeval.errors import DataError

    path = tmp_path / "doc.json"
    path.write_text("{}\n")
    with pytest.raises(DataError, match=message):
        fileio.write_json(path, doc)
    assert path.read_text() == "{}\n" and [p.name for p in tmp_path.iterdir()] == ["doc.json"]
    fileio.write_json(path, {"tolerance": 1e150, "nan": float("nan")})  # the bounds themselves read back
    assert fileio.read_json(path) == {"tolerance": 1e150, "nan": None}

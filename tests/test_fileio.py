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

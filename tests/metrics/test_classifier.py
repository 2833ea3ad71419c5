"""The shipped classifier: hash-checked, weights-only, and as accurate as recorded."""

import pytest
import torch

from ganeval import fileio
from ganeval.errors import IntegrityError
from ganeval.metrics import classifier as clf


def test_shipped_weights_match_the_recorded_hash(shipped):
    assert shipped.sha256 == clf.SHIPPED_SHA256
    assert fileio.sha256_file(clf.ASSETS / clf.WEIGHTS_NAME) == clf.SHIPPED_SHA256
    manifest = clf.read_manifest(clf.ASSETS / clf.WEIGHTS_NAME)
    assert manifest["sha256"] == clf.SHIPPED_SHA256
    assert manifest["test_accuracy"] >= 0.992
    assert "ganeval classifier train" in manifest["command"]
    assert (clf.ASSETS / clf.WEIGHTS_NAME).stat().st_size < 3 * 2**20


def test_shipped_classifier_accuracy_on_the_test_set(shipped, mnist):
    acc = clf.accuracy(shipped.model, mnist.test_images, mnist.test_labels)
    assert acc >= 0.992
    assert acc == pytest.approx(shipped.test_accuracy, abs=1e-4)


def test_tampered_weights_are_refused(tmp_path, shipped):
    path = tmp_path / "w.pt"
    data = bytearray((clf.ASSETS / clf.WEIGHTS_NAME).read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="SHA-256 mismatch"):
        clf.load_classifier(path, expected_sha256=clf.SHIPPED_SHA256)


def test_frozen_form_equals_the_trained_model(shipped):
    x = torch.rand(300, 1, 28, 28)
    f_ref, l_ref = shipped.model.features_and_logits(x)
    f, lg = shipped.frozen.features_and_logits(x)
    assert torch.allclose(f, f_ref, atol=1e-4) and torch.allclose(lg, l_ref, atol=1e-4)


def test_features_do_not_depend_on_the_batch_size(shipped):
    x = torch.rand(600, 1, 28, 28)
    whole = shipped.frozen.features_and_logits(x)[0]
    for bs in (7, 100, 333):
        parts = torch.cat([shipped.frozen.features_and_logits(x[i:i + bs])[0] for i in range(0, 600, bs)])
        assert torch.equal(parts, whole), bs


def test_classify_shapes(shipped):
    out = clf.classify(shipped.frozen, torch.rand(5, 1, 28, 28), with_features=True)
    assert out["labels"].shape == (5,) and out["features"].shape == (5, clf.FEATURE_DIM)
    assert torch.allclose(out["log_probs"].exp().sum(1), torch.ones(5, dtype=torch.float64))

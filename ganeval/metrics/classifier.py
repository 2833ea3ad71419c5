"""The shipped MNIST classifier: a small CNN that ganeval trains reproducibly and ships in
``ganeval/assets``. It labels each channel of stacked-MNIST samples (mode counting) and is the
offline feature extractor for FID / IS / KID (penultimate features, class log-probabilities).

Rebuild: ``ganeval classifier train`` (deterministic on a given machine and torch version);
check: ``ganeval classifier verify`` (test accuracy on the MNIST test set).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganeval import fileio
from ganeval.errors import DataError, IntegrityError

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
WEIGHTS_NAME = "mnist_classifier.pt"
MANIFEST_NAME = "mnist_classifier.json"
#: SHA-256 of the shipped weights; loading refuses any other file under this name.
SHIPPED_SHA256 = "51b9f517bf31b2ee0d8b64200969974aa2a7419f95fe0f22e105b73dd18bd610"
MEAN, STD = 0.1307, 0.3081  # MNIST pixel statistics on [0, 1]
FEATURE_DIM = 128


class MNISTClassifier(nn.Module):
    """Conv(1→32, 5) · pool · Conv(32→64, 5) · pool · FC 1024→128 · FC 128→10, ReLU, BN on convs.

    Input: ``[N, 1, 28, 28]`` in [0, 1]. ``features`` are the 128 penultimate ReLU units.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 5)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 4 * 4, FEATURE_DIM)
        self.dropout = nn.Dropout(0.3)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - MEAN) / STD
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.features(x)))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, self.fc2(f)


class FrozenMNISTClassifier(nn.Module):
    """Inference form of a trained :class:`MNISTClassifier`, about 1.5x faster on a CPU and exact to
    float rounding: batch norm folded into the convolutions, max-pool before ReLU (they commute),
    and every input processed in zero-padded chunks of ``CHUNK`` samples, so a sample's outputs
    are bit-identical whatever batch size the caller uses (float32 kernels otherwise vary with it).
    """

    CHUNK = 256

    def __init__(self, model: MNISTClassifier):
        super().__init__()
        with torch.no_grad():
            for i, (conv, bn) in enumerate(((model.conv1, model.bn1), (model.conv2, model.bn2)), start=1):
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                self.register_buffer(f"w{i}", (conv.weight * scale[:, None, None, None]).clone())
                self.register_buffer(f"b{i}", ((conv.bias - bn.running_mean) * scale + bn.bias).clone())
            self.register_buffer("w3", model.fc1.weight.clone())
            self.register_buffer("b3", model.fc1.bias.clone())
            self.register_buffer("w4", model.fc2.weight.clone())
            self.register_buffer("b4", model.fc2.bias.clone())

    def _chunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (x - MEAN) / STD
        x = F.relu(F.max_pool2d(F.conv2d(x, self.w1, self.b1), 2))
        x = F.relu(F.max_pool2d(F.conv2d(x, self.w2, self.b2), 2))
        f = F.relu(F.linear(x.flatten(1), self.w3, self.b3))
        return f, F.linear(f, self.w4, self.b4)

    @torch.no_grad()
    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [N, 1, 28, 28]`` in [0, 1] -> (features ``[N, 128]``, logits ``[N, 10]``), float32."""
        x = x.to(self.w1.device, torch.float32)
        feats, logits = [], []
        for start in range(0, len(x), self.CHUNK):
            part = x[start:start + self.CHUNK]
            n = len(part)
            if n < self.CHUNK:
                part = torch.cat([part, part.new_zeros(self.CHUNK - n, *part.shape[1:])])
            f, lg = self._chunk(part)
            feats.append(f[:n])
            logits.append(lg[:n])
        return torch.cat(feats), torch.cat(logits)


@dataclass(frozen=True)
class LoadedClassifier:
    model: MNISTClassifier
    sha256: str
    manifest: dict[str, Any]

    @property
    def frozen(self) -> FrozenMNISTClassifier:
        if not hasattr(self, "_frozen"):
            object.__setattr__(self, "_frozen", FrozenMNISTClassifier(self.model).to(next(self.model.parameters()).device))
        return self._frozen

    @property
    def test_accuracy(self) -> float:
        return float(self.manifest.get("test_accuracy", float("nan")))


def read_manifest(weights: Path) -> dict[str, Any]:
    path = Path(weights).with_name(Path(weights).stem + ".json")
    try:
        doc = fileio.read_json(path)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def load_classifier(path: Path | None = None, expected_sha256: str | None = None,
                    device: torch.device | str = "cpu") -> LoadedClassifier:
    """The classifier at ``path`` (default: the shipped one), hash-checked, ``weights_only``.

    The shipped weights must match :data:`SHIPPED_SHA256`; other weights must match
    ``expected_sha256`` or, failing that, the ``sha256`` of the manifest beside them.
    """
    shipped = path is None
    path = Path(path) if path is not None else ASSETS / WEIGHTS_NAME
    if not path.is_file():
        raise DataError(f"classifier weights not found: {path}" + (" (run `ganeval classifier train`)" if shipped else ""))
    manifest = read_manifest(path)
    expected = SHIPPED_SHA256 if shipped else (expected_sha256 or manifest.get("sha256"))
    if not expected:
        raise IntegrityError(f"{path}: no recorded SHA-256 to check it against (expected a manifest {path.stem}.json)")
    state = fileio.load_tensors(path, expected_sha256=expected)
    model = MNISTClassifier()
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise IntegrityError(f"{path}: not MNIST classifier weights ({str(exc).splitlines()[0]})") from None
    model.eval().requires_grad_(False)
    return LoadedClassifier(model.to(device), expected, manifest)


_shipped_cache: dict[str, LoadedClassifier] = {}


def shipped_classifier(device: torch.device | str = "cpu") -> LoadedClassifier:
    key = str(torch.device(device))
    if key not in _shipped_cache:
        _shipped_cache[key] = load_classifier(device=device)
    return _shipped_cache[key]


@torch.no_grad()
def classify(model: FrozenMNISTClassifier, images: torch.Tensor, batch_size: int = 4096,
             with_features: bool = False) -> dict[str, torch.Tensor]:
    """``images [N, 1, 28, 28]`` in [0, 1] (any float dtype/device) -> labels, confidence, log-probs
    (and features if asked), all on the CPU."""
    labels, conf, logp, feats = [], [], [], []
    for start in range(0, len(images), batch_size):
        f, logits = model.features_and_logits(images[start:start + batch_size])
        lp = logits.double().log_softmax(dim=1)
        labels.append(lp.argmax(dim=1).cpu())
        conf.append(lp.max(dim=1).values.exp().cpu())
        logp.append(lp.cpu())
        if with_features:
            feats.append(f.double().cpu())
    out = {"labels": torch.cat(labels), "confidence": torch.cat(conf), "log_probs": torch.cat(logp)}
    if with_features:
        out["features"] = torch.cat(feats)
    return out


def accuracy(model: MNISTClassifier | FrozenMNISTClassifier, images_uint8: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy on uint8 digits ``[N, 28, 28]``, measured with the frozen inference form."""
    frozen = model if isinstance(model, FrozenMNISTClassifier) else FrozenMNISTClassifier(model.eval())
    x = images_uint8.float().div(255.0).unsqueeze(1)
    pred = classify(frozen, x)["labels"]
    return float((pred == labels.long()).double().mean())


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int = 8, batch_size: int = 128,
                     lr: float = 2e-3, seed: int = 0, shift: int = 2, log_every: float = 30.0) -> MNISTClassifier:
    """Train on ``images [N, 28, 28] uint8`` with random shifts of up to ``shift`` pixels.

    Deterministic for a given seed, torch version and machine: one torch.Generator drives the
    shuffling, the augmentation and dropout, and no non-deterministic kernel is used on CPU.
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = MNISTClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = (len(images) + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    x_all = images.float().div(255.0).unsqueeze(1)
    y_all = labels.long()
    padded = F.pad(x_all, (shift, shift, shift, shift))
    model.train()
    last = time.monotonic()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        for i in range(steps_per_epoch):
            idx = order[i * batch_size:(i + 1) * batch_size]
            dx, dy = torch.randint(0, 2 * shift + 1, (2,), generator=gen).tolist()
            x = padded[idx, :, dy:dy + 28, dx:dx + 28]
            loss = F.cross_entropy(model(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if time.monotonic() - last > log_every:
                last = time.monotonic()
                log.warning("classifier epoch %d/%d, batch %d/%d, loss %.4f", epoch + 1, epochs, i + 1,
                            steps_per_epoch, float(loss.detach()))
    model.eval()
    return model


def save_classifier(model: MNISTClassifier, folder: Path, manifest: dict[str, Any]) -> str:
    """Write weights (atomically, with sidecar) and the manifest; returns the SHA-256."""
    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    digest = fileio.save_tensors(folder / WEIGHTS_NAME, state)
    fileio.write_text(folder / MANIFEST_NAME, json.dumps({**manifest, "sha256": digest}, indent=2) + "\n")
    return digest


def train_and_save(epochs: int = 8, seed: int = 0, out: Path | None = None, root: Path | None = None,
                   progress=lambda text: None) -> tuple[float, float, Path, str]:
    """``ganeval classifier train``: train the reference classifier reproducibly on MNIST's training
    digits and write weights + manifest (SHA-256, test accuracy, the command that rebuilds it).
    Returns (test accuracy, minutes, folder, sha256)."""
    import platform

    from ganeval.benchmarks.mnist_data import load_mnist

    mnist = load_mnist(root)
    t0 = time.perf_counter()
    progress(f"training on {len(mnist.train_images)} digits for {epochs} epochs (seed {seed}) ...")
    model = train_classifier(mnist.train_images, mnist.train_labels, epochs=epochs, seed=seed)
    acc = accuracy(model, mnist.test_images, mnist.test_labels)
    minutes = (time.perf_counter() - t0) / 60
    folder = Path(out) if out is not None else ASSETS
    digest = save_classifier(model, folder, {
        "test_accuracy": acc, "test_set": "MNIST test, 10,000 digits", "epochs": epochs, "seed": seed,
        "command": f"ganeval classifier train --epochs {epochs} --seed {seed}",
        "torch": torch.__version__, "platform": platform.platform(), "train_minutes": round(minutes, 1),
    })
    return acc, minutes, folder, digest


def verify(weights: Path | None = None, root: Path | None = None) -> tuple[Any, float]:
    """``ganeval classifier verify``: (the loaded classifier, its measured MNIST test accuracy)."""
    from ganeval.benchmarks.mnist_data import load_mnist

    loaded = load_classifier(weights)
    mnist = load_mnist(root)
    return loaded, accuracy(loaded.model, mnist.test_images, mnist.test_labels)

"""LPIPS diversity (Zhang et al. 2018): the mean perceptual distance between pairs of generated
images, relative to that between pairs of real images — the diversity score of the image-GAN
literature. Only with weights the user already has: ganeval never downloads them.

The weights folder holds the two files LPIPS-alex is made of, as their projects publish them:
``alexnet-owt-7be5be79.pth`` (torchvision's ImageNet AlexNet, as found in ``~/.cache/torch/hub/
checkpoints``) and ``alex.pth`` (the ``lpips`` package's linear layers, ``lpips/weights/v0.1``).
Both load with ``weights_only=True``. Images smaller than 64 px are upsampled to 64 px: AlexNet's
pooling leaves nothing of a 28x28 digit.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganeval import fileio
from ganeval.errors import DataError, IntegrityError, SampleError

BACKBONE_FILE = "alexnet-owt-7be5be79.pth"
LINEAR_FILE = "alex.pth"
CHANNELS = (64, 192, 384, 256, 256)
#: The ``lpips`` package's input scaling (ImageNet statistics in its [-1, 1] convention).
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
#: Indices of AlexNet's ``features`` whose ReLU outputs LPIPS compares (relu1 ... relu5).
TAPS = (1, 4, 7, 9, 11)
MIN_SIZE = 64


def _alexnet_features() -> nn.Sequential:
    from torchvision.models import alexnet

    return alexnet(weights=None).features


class LPIPS(nn.Module):
    """LPIPS-alex distance between image batches in [-1, 1] (``[N, 3, H, W]``)."""

    def __init__(self, weights_dir: str | Path):
        super().__init__()
        backbone, linear = load_weights(weights_dir)
        self.features = _alexnet_features()
        self.features.load_state_dict(backbone)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        for k, lin in enumerate(self.lins):
            lin.weight.data.copy_(linear[f"lin{k}.model.1.weight"])
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, out = (x - self.shift) / self.scale, []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in TAPS:
                out.append(h / (h.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
            if i == TAPS[-1]:
                break
        return out

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape[-1] < MIN_SIZE:
            a = F.interpolate(a, size=MIN_SIZE, mode="bilinear", align_corners=False)
            b = F.interpolate(b, size=MIN_SIZE, mode="bilinear", align_corners=False)
        return sum(lin((fa - fb).pow(2)).mean((2, 3)).squeeze(1)
                   for lin, fa, fb in zip(self.lins, self._taps(a), self._taps(b)))


def load_weights(weights_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(AlexNet ``features.*`` state, LPIPS linear state) from ``weights_dir``; clear errors otherwise."""
    folder = Path(weights_dir)
    if not folder.is_dir():
        raise DataError(f"LPIPS weights folder not found: {folder} (it holds {BACKBONE_FILE} and {LINEAR_FILE})")
    states = []
    for name in (BACKBONE_FILE, LINEAR_FILE):
        if not (folder / name).is_file():
            raise DataError(f"LPIPS weights: {folder / name} is missing (ganeval never downloads it)")
        state, _ = fileio.load_user_tensors(folder / name)
        if not isinstance(state, dict):
            raise IntegrityError(f"{folder / name}: not a state dict")
        states.append(state)
    backbone = {k[len("features."):]: v for k, v in states[0].items() if k.startswith("features.")}
    expected = _alexnet_features().state_dict()
    if set(backbone) != set(expected) or any(backbone[k].shape != expected[k].shape for k in expected):
        raise IntegrityError(f"{folder / BACKBONE_FILE}: not torchvision AlexNet weights")
    for k, c in enumerate(CHANNELS):
        w = states[1].get(f"lin{k}.model.1.weight")
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != (1, c, 1, 1):
            raise IntegrityError(f"{folder / LINEAR_FILE}: not LPIPS-alex linear weights (lin{k} of shape [1, {c}, 1, 1])")
    return backbone, states[1]


def _as_float(images: torch.Tensor) -> torch.Tensor:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise SampleError(f"LPIPS needs images [N, 1 or 3, H, W], got {list(images.shape)}")
    x = images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def mean_pairwise_lpips(model: LPIPS, images: torch.Tensor, pairs: int = 1000, seed: int = 0,
                        batch_size: int = 250) -> float:
    """Mean LPIPS over ``pairs`` random pairs of distinct images (fixed seed: reproducible)."""
    x = _as_float(images)
    n = len(x)
    if n < 2:
        raise SampleError("LPIPS diversity needs at least two images")
    gen = torch.Generator().manual_seed(seed)
    i = torch.randint(n, (pairs,), generator=gen)
    j = (i + torch.randint(1, n, (pairs,), generator=gen)) % n  # never i itself
    total = 0.0
    for s in range(0, pairs, batch_size):
        total += float(model(x[i[s:s + batch_size]], x[j[s:s + batch_size]]).double().sum())
    return total / pairs


@functools.lru_cache(maxsize=2)
def _cached_model(weights_dir: Path) -> LPIPS:
    return LPIPS(weights_dir)


def lpips_diversity(generated: torch.Tensor, real: torch.Tensor, weights_dir: str | Path,
                    pairs: int = 1000) -> dict[str, float]:
    """``lpips_diversity`` = mean pairwise LPIPS of generated / of real images (1 = as diverse),
    with both raw means beside it. The model is loaded once per process and folder, not per seed."""
    model = _cached_model(Path(weights_dir).resolve())
    gen, ref = mean_pairwise_lpips(model, generated, pairs), mean_pairwise_lpips(model, real, pairs)
    return {"lpips_diversity": gen / ref if ref > 0 else float("nan"), "lpips_generated": gen, "lpips_real": ref}

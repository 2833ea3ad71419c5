"""FID, IS, KID and precision/recall through torch-fidelity, offline by default.

The statistics are torch-fidelity's own (``fid_statistics_to_metric``, ``isc_features_to_metric``,
``kid_features_to_metric``, ``prc_features_to_metric``); ganeval only supplies features:

* ``ganeval-mnist`` (default, offline): the shipped MNIST classifier, registered in torch-fidelity's
  registry as a feature extractor. Features for FID/KID/PRC are its 128 penultimate units (per
  channel, concatenated: 384 for stacked MNIST); logits for IS are its class log-probabilities
  (for stacked MNIST the 1,000-way joint log-probability of the digit triple). Computed in fixed
  zero-padded chunks, so a number does not depend on the batch size the features were taken in.
* ``inception-v3-compat``: torch-fidelity's Inception-v3, only from a weights file the user has
  (never downloaded). The file is first checked to hold nothing but tensors.

Numbers from different extractors are not comparable; every result carries the extractor's name.
Reference (real-data) features are cached under ganeval's cache, keyed by benchmark, split,
extractor, a hash of the extractor weights and the sample count; a user's own real images (``ganeval
score --real``) are keyed by a hash of their pixels instead.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from ganeval import fileio
from ganeval.errors import DataError, IntegrityError, SampleError
from ganeval.metrics.catalog import (  # noqa: F401 - EXTRACTORS and INCEPTION are re-exported
    DIVERSITY,
    EXTRACTOR,
    EXTRACTORS,
    FID,
    FIDELITY_METRICS,
    INCEPTION,
    IS_MEAN,
    IS_SPLITS,
    IS_STD,
    KID_MEAN,
    KID_STD,
    PRECISION,
    RECALL,
)

log = logging.getLogger(__name__)

ALL = FIDELITY_METRICS



def _torch_fidelity():
    try:
        import torch_fidelity
        from torch_fidelity import metric_fid, metric_isc, metric_kid, metric_prc
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DataError(f"torch-fidelity is needed for FID/IS/KID: {exc}") from None
    return torch_fidelity, metric_fid, metric_isc, metric_kid, metric_prc


# --- the offline extractor ---------------------------------------------------------------------
def _extractor_class():
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase

    from ganeval.metrics.classifier import load_classifier

    class GanevalMNISTExtractor(FeatureExtractorBase):
        """torch-fidelity feature extractor backed by ganeval's MNIST classifier (see module doc)."""

        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            super().__init__(name, features_list)
            loaded = load_classifier(feature_extractor_weights_path)
            self.weights_sha256 = loaded.sha256
            self.classifier = loaded.frozen

        @staticmethod
        def get_provided_features_list():
            return "features", "logits"

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return {"isc": "logits", "fid": "features", "kid": "features", "prc": "features"}[metric]

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return torch.zeros(1, 3, 28, 28, dtype=torch.uint8)

        def forward(self, x):
            if not (torch.is_tensor(x) and x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] in (1, 3)
                    and tuple(x.shape[2:]) == (28, 28)):
                raise SampleError(f"{EXTRACTOR} expects uint8 images [B, 1 or 3, 28, 28], got "
                                  f"{getattr(x, 'dtype', type(x))} {list(getattr(x, 'shape', []))}")
            B, C = x.shape[:2]
            pixels = x.reshape(B * C, 1, 28, 28).to(torch.float32).div(255.0)
            feats, logits = self.classifier.features_and_logits(pixels)
            log_p = logits.double().log_softmax(dim=1).view(B, C, 10)
            joint = log_p[:, 0]
            for c in range(1, C):  # log p(d1, ..., dc) = sum of per-channel log-probabilities
                joint = (joint[:, :, None] + log_p[:, c, None, :]).reshape(B, -1)
            out = {"features": feats.view(B, C * feats.shape[1]), "logits": joint}
            return tuple(out[name] for name in self.features_list)

    return GanevalMNISTExtractor


def register() -> None:
    """Register ``ganeval-mnist`` in torch-fidelity's registry (idempotent), so that
    ``torch_fidelity.calculate_metrics(feature_extractor="ganeval-mnist", ...)`` works too."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(EXTRACTOR, _extractor_class())


# --- inputs ------------------------------------------------------------------------------------
class ImageTensorDataset(Dataset):
    """uint8 images ``[N, C, H, W]`` as a torch Dataset, for ``torch_fidelity.calculate_metrics``
    (one channel expanded to three when the extractor needs RGB)."""

    def __init__(self, images: torch.Tensor, rgb: bool = False):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise SampleError(f"images must be uint8 [N, C, H, W], got {images.dtype} {list(images.shape)}")
        self.images = images
        self.rgb = rgb

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self.images[i]
        return x.expand(3, -1, -1) if self.rgb and x.shape[0] == 1 else x


def check_inception_weights(path: Path) -> str:
    """The weights must exist and hold tensors only (torch-fidelity loads them with weights_only=False,
    so ganeval loads them first with weights_only=True). Returns their SHA-256."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Inception weights not found: {path}")
    state, digest = fileio.load_user_tensors(path)
    if not isinstance(state, dict) or "fc.weight" not in state or tuple(state["fc.weight"].shape) != (1008, 2048):
        raise IntegrityError(f"{path}: not torch-fidelity Inception-v3 weights (no fc.weight of shape [1008, 2048])")
    return digest


def make_extractor(name: str, weights: str | Path | None, device: torch.device):
    """A torch-fidelity feature extractor instance and the SHA-256 of its weights."""
    _, *_ = _torch_fidelity()
    from torch_fidelity.utils import create_feature_extractor

    if name == EXTRACTOR:
        register()
        extractor = create_feature_extractor(EXTRACTOR, ["features", "logits"], cuda=False, verbose=False,
                                             feature_extractor_weights_path=str(weights) if weights else None)
        return extractor.to(device), extractor.weights_sha256
    if name == INCEPTION:
        if not weights:
            raise DataError(f"{INCEPTION} needs its weights file (--inception-weights PATH); ganeval never downloads it")
        digest = check_inception_weights(Path(weights))
        extractor = create_feature_extractor(INCEPTION, ["2048", "logits_unbiased"], cuda=False,
                                             feature_extractor_weights_path=str(weights), verbose=False)
        return extractor.to(device), digest
    raise DataError(f"unknown feature extractor {name!r}; use {' or '.join(EXTRACTORS)}")


def _layers(name: str) -> tuple[str, str]:
    return ("features", "logits") if name == EXTRACTOR else ("2048", "logits_unbiased")


@torch.no_grad()
def extract(extractor, images: torch.Tensor, device: torch.device, batch_size: int = 1024) -> dict[str, torch.Tensor]:
    """Features of uint8 ``images [N, C, H, W]`` as torch-fidelity's featuresdict, on the CPU.

    Slices the tensor directly rather than through a per-image DataLoader (a third of the time).
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise SampleError(f"images must be uint8 [N, C, H, W], got {images.dtype} {list(images.shape)}")
    rgb = getattr(extractor, "name", "") == INCEPTION and images.shape[1] == 1
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device)
        if rgb:
            batch = batch.expand(-1, 3, -1, -1)
        for name, value in extractor.convert_features_tuple_to_dict(extractor(batch)).items():
            parts.setdefault(name, []).append(value.cpu())
    return {name: torch.cat(values) for name, values in parts.items()}


def _cache_root() -> Path:
    return fileio.ganeval_home() / "fidelity"


#: Bumped whenever the extraction itself changes (dtype, preprocessing): part of every cache key.
FEATURES_VERSION = 2


def _cached(key: str, compute) -> dict[str, torch.Tensor]:
    """Features cached under ``key`` (verified by their hash), computed once by ``compute()``."""
    path = _cache_root() / f"{key}.pt"
    if path.exists():
        try:
            cached = fileio.load_tensors(path)
            if isinstance(cached, dict) and all(isinstance(v, torch.Tensor) for v in cached.values()):
                return cached
        except IntegrityError as exc:
            log.warning("rebuilding reference features: %s", exc)
    feats = compute()
    fileio.save_tensors(path, feats)
    return feats


def reference_features(benchmark, extractor, name: str, weights_sha256: str, n: int, split: str,
                       device: torch.device) -> dict[str, torch.Tensor]:
    """Real-data features, cached per (benchmark, split, extractor, weights hash, n, extraction
    version): a changed extractor or extraction has another key, hence another cache entry."""
    key = f"{benchmark.name}-{split}-{name}-{weights_sha256[:16]}-n{n}-v{FEATURES_VERSION}"
    return _cached(key, lambda: extract(extractor, benchmark.real_uint8(n, split), device))


def mean_pairwise_distance(features: torch.Tensor, max_samples: int = 2000) -> float:
    """Mean L2 distance between distinct pairs of (at most ``max_samples``) feature vectors."""
    f = features[:max_samples].double()
    d = torch.cdist(f, f)
    n = len(f)
    return float(d.sum() / (n * (n - 1))) if n > 1 else math.nan


def custom_reference_features(images: torch.Tensor, extractor, name: str, weights_sha256: str,
                              device: torch.device) -> dict[str, torch.Tensor]:
    """Features of a user's own real images, cached by a hash of their content (pixels and shape)
    and of the extractor: the same reference set is featurized once, a changed one never reuses it."""
    content = fileio.sha256_bytes(str(list(images.shape)).encode() + images.contiguous().numpy().tobytes())
    key = f"custom-{content[:16]}-{name}-{weights_sha256[:16]}-v{FEATURES_VERSION}"
    return _cached(key, lambda: extract(extractor, images, device))


def fidelity_metrics(generated: torch.Tensor, benchmark, metrics: tuple[str, ...] = ALL, extractor_name: str = EXTRACTOR,
                     weights: str | Path | None = None, n_real: int = 10000, split: str = "test",
                     kid_subset_size: int = 1000, is_splits: int = IS_SPLITS, device: torch.device | str = "cpu",
                     real: torch.Tensor | None = None) -> dict[str, Any]:
    """FID / IS / KID / precision-recall of uint8 ``generated [N, C, H, W]`` against ``benchmark``'s
    real data, or against ``real`` (uint8 images of the user's own; ``benchmark`` may then be None).
    Returns a flat dict of floats plus ``extractor`` (name) and the sample counts.

    ``is_splits``: 10 by default, the convention papers report. With 1,000 classes (stacked MNIST) a
    split of a thousand images underestimates the class marginal: real test triples score 549 over 10
    splits and 905 over one (exp H(p(y)) = 944), so IS is only comparable at the same split count.
    """
    _, metric_fid, metric_isc, metric_kid, metric_prc = _torch_fidelity()
    device = torch.device(device)
    unknown = set(metrics) - set(ALL)
    if unknown:
        raise DataError(f"unknown fidelity metric(s) {sorted(unknown)}; valid: {', '.join(ALL)}")
    if generated.dtype != torch.uint8:
        raise SampleError(f"generated images must be uint8, got {generated.dtype}")
    extractor, sha = make_extractor(extractor_name, weights, device)
    feat_layer, logit_layer = _layers(extractor_name)
    gen = extract(extractor, generated, device)
    out: dict[str, Any] = {}
    if "is" in metrics:
        isc = metric_isc.isc_featuresdict_to_metric(gen, logit_layer, isc_splits=is_splits, verbose=False)
        out[IS_MEAN], out[IS_STD] = isc[metric_isc.KEY_METRIC_ISC_MEAN], isc[metric_isc.KEY_METRIC_ISC_STD]
    if any(m in metrics for m in ("fid", "kid", "prc")):
        if real is not None:
            real_feats = custom_reference_features(real, extractor, extractor_name, sha, device)
            n_real = len(real)
        else:
            real_feats = reference_features(benchmark, extractor, extractor_name, sha, n_real, split, device)
        if "fid" in metrics:
            stats = [metric_fid.fid_featuresdict_to_statistics(f, feat_layer) for f in (gen, real_feats)]
            out[FID] = metric_fid.fid_statistics_to_metric(stats[0], stats[1], False)[metric_fid.KEY_METRIC_FID]
        if "kid" in metrics:
            size = min(kid_subset_size, len(generated), n_real)  # KID's subset can't exceed the samples
            kid = metric_kid.kid_featuresdict_to_metric(gen, real_feats, feat_layer, kid_subset_size=size, verbose=False)
            out[KID_MEAN], out[KID_STD] = kid[metric_kid.KEY_METRIC_KID_MEAN], kid[metric_kid.KEY_METRIC_KID_STD]
            out["kid_subset_size"] = size
        if "prc" in metrics:
            prc = metric_prc.prc_featuresdict_to_metric(gen, real_feats, feat_layer, save_cpu_ram=True, verbose=False)
            out[PRECISION], out[RECALL] = prc[metric_prc.KEY_METRIC_PRECISION], prc[metric_prc.KEY_METRIC_RECALL]
        out[DIVERSITY] = mean_pairwise_distance(gen[feat_layer]) / mean_pairwise_distance(real_feats[feat_layer])
        out["n_real"] = n_real
    out["n_generated"] = len(generated)
    out["is_splits"] = is_splits
    out["extractor"] = extractor_name
    return out

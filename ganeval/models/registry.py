"""Model families by name: a benchmark names the family its protocol uses (``mlp``, ``dcgan``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ganeval.registry import Registry
from ganeval.rng import derive_seed
from ganeval.settings import Setting, register_entry

# derive_seed purposes: one independent initialisation stream per network.
INIT_G = 101
INIT_D = 102


@dataclass(frozen=True)
class ModelFamily:
    name: str
    description: str
    #: (g_generators, d_generators, data_shape, d_shape, run) -> (G, D); D reads d_shape (packing)
    build: Callable[..., tuple[nn.Module, nn.Module]]
    #: why the family cannot model data of a shape (None: it can); checked before training starts
    rejects: Callable[[tuple[int, ...]], str | None] = lambda shape: None
    #: the family's own settings (see :mod:`ganeval.settings`)
    settings: tuple[Setting, ...] = field(default_factory=tuple)


MODELS: Registry[ModelFamily] = Registry("model")


def register_model(family: ModelFamily) -> ModelFamily:
    """Make a model family available by name (``--set model=NAME``); the plugin interface.
    ``build`` must return seed-batched modules: G maps ``[S, B, z_dim]`` latents to
    ``[S, B, *data_shape]``, D maps ``[S, B, *d_shape]`` to ``[S, B]`` logits, and seed k's weights
    come from the k-th torch.Generator alone (see :mod:`ganeval.models.layers`)."""
    return register_entry(MODELS, family, ModelFamily)


def init_generators(seeds: Sequence[int], purpose: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(derive_seed(s, purpose)) for s in seeds]


def build_models(run, seeds: Sequence[int], data_shape: Sequence[int]) -> tuple[nn.Module, nn.Module]:
    """Build seed-batched (G, D) on the CPU for ``run`` (a RunSpec); seed k's weights depend on
    seed k alone. Each family reads the few RunSpec fields its architecture has."""
    from ganeval.models.packing import PackedDiscriminator, packed_shape

    entry = MODELS.get(run.model)
    d_gens = init_generators(seeds, INIT_D)
    # A packed D is the family's D built for pack samples side by side (PacGAN); G is not affected.
    G, D = entry.build(init_generators(seeds, INIT_G), d_gens, data_shape, packed_shape(data_shape, run.pack), run)
    if run.pack > 1:
        D = PackedDiscriminator(D, run.pack)
    if run.spectral_norm:
        from ganeval.models.layers import apply_spectral_norm

        apply_spectral_norm(D, d_gens)  # the power-iteration vectors continue each seed's own stream
    return G, D


def _build_mlp(g_gens, d_gens, data_shape, d_shape, run):
    from ganeval.models.mlp import MLPDiscriminator, MLPGenerator

    return (MLPGenerator(g_gens, run.z_dim, data_shape, run.hidden, run.depth, run.g_batchnorm),
            MLPDiscriminator(d_gens, d_shape, run.d_hidden or run.hidden, run.d_depth or run.depth,
                             run.d_batchnorm, run.maxout, run.d_input_scale))


def _build_dcgan(g_gens, d_gens, data_shape, d_shape, run):
    from ganeval.models.dcgan import DCGANDiscriminator, DCGANGenerator

    return (DCGANGenerator(g_gens, run.z_dim, data_shape, run.base_filters, run.g_batchnorm),
            DCGANDiscriminator(d_gens, d_shape, run.base_filters, run.d_batchnorm))


register_model(ModelFamily("mlp", "fully connected G and D, ReLU or maxout D units (Metz et al. 2017; VEEGAN, PacGAN)",
                           _build_mlp))
def _dcgan_rejects(shape: tuple[int, ...]) -> str | None:
    return None if len(shape) == 3 and shape[1:] == (28, 28) else "needs images of shape Cx28x28"


register_model(ModelFamily("dcgan", "DCGAN for 28x28 images, 4x4 kernels, 2 layers each (Radford et al. 2016)",
                           _build_dcgan, _dcgan_rejects))


def _build_dcgan5x5(g_gens, d_gens, data_shape, d_shape, run):
    from ganeval.models.dcgan5x5 import DCGAN5Discriminator, DCGAN5Generator

    return (DCGAN5Generator(g_gens, run.z_dim, data_shape, run.base_filters, run.g_batchnorm),
            DCGAN5Discriminator(d_gens, d_shape, run.base_filters, run.d_batchnorm))


register_model(ModelFamily("dcgan5x5", "DCGAN of PacGAN's stacked-MNIST code: 5x5 kernels, G 2x2x8b -> 28x28, "
                           "D 4 convs b..8b (carpedm20/DCGAN-tensorflow)", _build_dcgan5x5, _dcgan_rejects))

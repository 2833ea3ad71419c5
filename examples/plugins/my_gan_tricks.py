"""A worked ganeval plugin: a loss and a stabilizer of your own, judged beside the built-in ones.

    ganeval bench --plugin examples/plugins/my_gan_tricks.py --losses bce,bce-smooth --variants none,r2
    ganeval bench --plugin examples/plugins/my_gan_tricks.py --losses bce --variants r2 --sweep r2_gamma=1,10

Everything here goes through the same public interface ganeval's own entries use:
``ganeval.register_loss`` / ``ganeval.register_variant`` with a :class:`ganeval.Setting` for each
new knob (so ``--set smooth=0.8`` and ``[loss.bce-smooth]`` tables work, and ``config.json``
records it). Shapes are seed-batched: D's outputs are ``[seeds, batch]``, samples
``[seeds, batch, *data]``; reduce over the batch only (``.mean(-1)``), never over seeds.

``r2_gamma`` is declared ``batchable``: a study that sweeps it trains every value as a member of one
batched model, and ``ctx.run.r2_gamma`` is then one value per member ``[members]`` — which the
penalty below takes as it is, since it multiplies a per-member penalty. ``smooth`` is not (it fills
a tensor with a float), so each of its values trains as a cell of its own.
"""

import torch.nn.functional as F

import ganeval
from ganeval.losses import bce_g, r1_penalty


def smooth_d(real, fake, smooth):
    """One-sided label smoothing (Salimans et al. 2016): D's target on real samples is ``smooth``."""
    return (F.binary_cross_entropy_with_logits(real, real.new_full(real.shape, smooth), reduction="none").mean(-1)
            + F.softplus(fake).mean(-1))


def smooth_g(fake, real, smooth):
    return bce_g(fake)  # the non-saturating generator loss, unchanged


ganeval.register_loss(ganeval.Loss(
    "bce-smooth", "non-saturating GAN with one-sided label smoothing of D's real targets",
    "Salimans et al. 2016, section 3.4 (smooth = 0.9)", smooth_d, smooth_g,
    defaults={"n_critic": 1, "optimizer": "adam", "betas": [0.5, 0.999]},
    settings=(ganeval.Setting("smooth", float, 0.9, "D's target for real samples",
                              check=lambda v: None if 0 < v <= 1 else "must be in (0, 1]"),),
))


def r2_penalty(ctx: ganeval.StepContext):
    """R2 (Mescheder et al. 2018): gamma/2 E||grad D(x_fake)||^2, on generated samples; [seeds]."""
    return ctx.run.r2_gamma / 2 * r1_penalty(ctx.D, ctx.fake, batch_dims=2)


ganeval.register_variant(ganeval.Variant(
    "r2", "R2 penalty gamma/2 E||grad D(x_fake)||^2 on D's generated inputs", "Mescheder et al. 2018",
    settings=(ganeval.Setting("r2_gamma", float, 10.0, "weight of the R2 penalty",
                              check=lambda v: None if v >= 0 else "must be >= 0", batchable=True),),
    d_penalty=r2_penalty,
))

"""The reference trainer: seed-batched GAN training with resumable checkpoints."""

"""Seed-batched networks: every parameter has a leading ``seeds`` dimension, so one forward pass
advances many independent models, and seed k's slice is exactly the model seed k would have alone."""

from ganeval.models.registry import MODELS, ModelFamily, build_models, register_model

__all__ = ["MODELS", "ModelFamily", "build_models", "register_model"]

"""Training diagnostics: gradient-norm tracing (usable on any GAN loop) and stability events."""

from ganeval.diagnostics.events import Thresholds, detect_events
from ganeval.diagnostics.tracer import GANTracer, StepStatistics

__all__ = ["GANTracer", "StepStatistics", "Thresholds", "detect_events"]

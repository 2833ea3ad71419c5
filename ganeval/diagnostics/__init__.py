"""Training diagnostics: gradient-norm tracing and stability events."""

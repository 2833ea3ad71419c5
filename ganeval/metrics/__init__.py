"""Evaluators. Each module is samples in, flat dict of named floats out; the names and their
directions are defined once in :mod:`ganeval.metrics.catalog`."""

"""Choosing the torch device from ``auto | cpu | cuda``."""

from __future__ import annotations

import torch

from ganeval.errors import DeviceError, given


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{given('device', 'cuda')} was asked for, but torch sees no CUDA device "
                              f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'})")
        return torch.device("cuda")
    raise DeviceError(f"unknown device {name!r}; use auto, cpu or cuda")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"

"""Published protocols as shipped bench specs: ``ganeval bench --protocol NAME`` runs
``ganeval/protocols/NAME.toml``. Each file takes its settings from the paper and the authors' code,
cites them in comments, and says what it chose where they are silent. Results of the 2-D protocols
run here are in ``reports/reproductions/``.
"""

from __future__ import annotations

from pathlib import Path

from ganeval.errors import SpecError
from ganeval.registry import unknown_name_message

PROTOCOL_DIR = Path(__file__).parent


def protocol_names() -> list[str]:
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.toml"))


def protocol_path(name: str) -> Path:
    """The spec file of protocol ``name``; an unknown name is a SpecError listing the known ones."""
    path = PROTOCOL_DIR / f"{name}.toml"
    if not isinstance(name, str) or "/" in name or not path.is_file():
        raise SpecError(unknown_name_message("protocol", str(name), protocol_names()))
    return path


def protocol_summary(name: str) -> str:
    """The first comment line of the protocol's file: what it reproduces."""
    for line in protocol_path(name).read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""

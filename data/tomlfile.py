"""The toolkit's TOML files (codebook, simulation design, run config): read and written one way."""

from __future__ import annotations

import copy
import tomllib
from dataclasses import fields
from pathlib import Path

from .errors import ProblemsError


def read_toml(path: str | Path, error: type[ProblemsError]) -> dict:
    """Read a TOML file; a missing or malformed file raises ``error`` naming the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(str(path), ["file not found"]) from None
    except tomllib.TOMLDecodeError as err:
        raise error(str(path), [f"not valid TOML: {err}"]) from None


def toml_fields(obj) -> dict:
    """A dataclass's fields as a TOML-ready mapping: None left out, tuples as lists, copies."""
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        out[f.name] = list(value) if isinstance(value, tuple) else copy.deepcopy(value)
    return out

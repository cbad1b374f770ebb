"""The shadowing guard shared by the four packages.

Our package names (``data``, ``models``, ``analysis``, ``reports``) are short and generic:
a user's ``data.py`` or ``models/`` folder next to a notebook would be imported instead
of ours and fail later with an obscure ``AttributeError``. Each package checks the
packages it imports before importing them and stops with a message that says what to do.

This file uses the standard library only and is *loaded by path* by the other packages
(:func:`runpy.run_path`), not imported: when ``data`` itself is shadowed,
``import data.guard`` would fail before the guard could say why.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

OURS = Path(__file__).resolve().parent.parent


def check_packages(*names: str) -> None:
    """Raise ImportError when any of ``names`` is (or would be) imported from elsewhere.

    Nothing is imported: the location comes from ``sys.modules`` or the import finder.
    """
    for name in names:
        module = sys.modules.get(name)
        if module is not None:
            where = getattr(module, "__file__", None) or list(getattr(module, "__path__", []))
        else:
            spec = importlib.util.find_spec(name)
            if spec is None:
                continue  # not installed at all: the import itself says so
            where = spec.origin if spec.has_location else list(spec.submodule_search_locations or [])
        own = OURS / name / "__init__.py"
        if not (isinstance(where, str) and Path(where).resolve() == own):
            raise ImportError(
                f"'{name}' was imported from {where}, not from alliance-learning's own package "
                f"in {OURS / name}. A file or folder named '{name}' shadows it: rename it "
                "(or run from another directory)."
            )

"""The toolkit's version, as recorded in what it writes (simulations, reports)."""

from __future__ import annotations

from importlib import metadata


def toolkit_version() -> str:
    """The installed alliance-learning version, or ``"unknown"`` when it is not installed."""
    try:
        return metadata.version("alliance-learning")
    except metadata.PackageNotFoundError:
        return "unknown"

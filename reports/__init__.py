"""alliance-learning reports package: HTML reports, the main job, the command line.

Public API::

    ReportContext, render_report, render_html          (reports.html)
    build_context, save_reliability, load_reliability, example_data_path  (reports.context)
    run_pipeline, run_demo, PipelineResult             (reports.pipeline)

The names are imported on first use, so that ``import reports.html`` (and the command
line's start) does not load PyMC.
"""

from __future__ import annotations

import importlib
import runpy as _runpy
from pathlib import Path as _Path

# The shadowing guard (data/guard.py), loaded by path, not imported: a user's own `data`
# module may be what `import data` finds.
_runpy.run_path(str(_Path(__file__).parent.parent / "data" / "guard.py"))["check_packages"](
    "data", "models", "analysis")

_PUBLIC = {
    "ReportContext": "html", "render_report": "html", "render_html": "html",
    "build_context": "context", "save_reliability": "context", "load_reliability": "context",
    "run_pipeline": "pipeline", "run_demo": "pipeline", "PipelineResult": "pipeline",
    "example_data_path": "context",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_PUBLIC])

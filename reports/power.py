"""The HTML page of a power study (``alliance-learning power``): one self-contained file.

Like the run report (:mod:`reports.html`): Jinja2 with autoescaping, the CSS inline, the
figure embedded as base64 PNG, no scripts, a Content-Security-Policy forbidding them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from analysis.power import BINOMIAL_PROB, OUTCOME_LABELS, OUTCOMES, PowerResult
from data.files import atomic_write
from data.version import toolkit_version

from .html import _environment, format_cell, table
from .plots import png_to_base64

logger = logging.getLogger(__name__)

__all__ = ["PAGE_FILE", "display_table", "render_power_page"]

PAGE_FILE = "power.html"


def display_table(frame: pd.DataFrame) -> pd.DataFrame:
    """power.csv for reading: each proportion as ``k/n = p [lower, upper]``, the width with its SE."""
    shown = pd.DataFrame({"alliances": frame["alliances"], "simulations": frame["sims"]})
    if "truth" in frame:
        shown["true verdict"] = frame["truth"]
        shown["true share"] = frame["true_share"].map(lambda v: f"{v:.3f}")
    for name in OUTCOMES:
        if f"p_{name}" not in frame:
            continue
        shown[OUTCOME_LABELS[name]] = [
            f"{int(k)}/{int(n)} = {p:.2f} [{lo:.2f}, {hi:.2f}]"
            for k, n, p, lo, hi in zip(frame[name], frame["sims"], frame[f"p_{name}"],
                                       frame[f"p_{name}_lower"], frame[f"p_{name}_upper"])]
    if "width_mean" in frame:
        shown["share interval width"] = [f"{m:.3f} ± {format_cell(se)}"
                                         for m, se in zip(frame["width_mean"], frame["width_se"])]
        shown["mean posterior share"] = frame["share_mean"].map(lambda v: f"{v:.3f}")
    return shown


def render_power_page(result: PowerResult, path: str | Path, *, command: str | None = None) -> Path:
    """Write the study's page to ``path`` (atomically) and return the path."""
    study = result.study
    interval = result.records[0]["interval"] if result.records else "interval"
    settings = {
        "design points (alliances)": ", ".join(str(a) for a in study.alliances),
        "simulations per point": study.sims,
        "model": f"{study.spec.outcome} ({study.spec.family or 'family by the outcome scale'})",
        "sampling": (f"{study.sampling.chains} chains x {study.sampling.draws} draws after "
                     f"{study.sampling.tune} tuning steps ({study.sampling.sampler}), base seed "
                     f"{study.sampling.seed}"),
        "verdict": f"rope {study.rope:g}, threshold {study.threshold:g}, default diagnostic gates",
        "share interval": interval,
    }
    design = {key: format_cell(value) for key, value in study.design.to_dict().items()
              if key != "alliances"}
    page = {
        "title": "Power study: how often does the verdict get it right?",
        "answer": result.answer.to_dict(),
        "table": table(display_table(result.table)),
        "image": {"png": png_to_base64(Path(result.paths["figure"]).read_bytes()),
                  "alt": "Proportion of each verdict outcome and the share's interval width by "
                         "number of alliances"},
        "binomial": f"{BINOMIAL_PROB:.0%} Wilson",
        "settings": table(pd.DataFrame({"setting": list(settings),
                                        "value": [format_cell(v) for v in settings.values()]})),
        "design": table(pd.DataFrame({"key": list(design), "value": list(design.values())})),
        "fitted": result.fitted,
        "reused": result.reused,
        "command": command,
        "version": toolkit_version(),
    }
    html = _environment().get_template("power.html.j2").render(page=page)
    path = atomic_write(path, html)
    logger.info("wrote %s", path)
    return path

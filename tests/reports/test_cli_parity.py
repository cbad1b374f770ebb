"""CLI parity (issue 13, item 5): run and demo take every option of fit and check, each
command's --help ends with an example, a config may leave the outcome out, and the verdict is
printed with its probability and the interpersonal share's interval. No fits here."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import typer
import xarray as xr
from rich.console import Console
from typer.testing import CliRunner

from analysis import dominance_verdict
from analysis.checks import Checks
from data import CaseSurvey, Codebook
from models import RunConfig, SpecError, check_spec
from reports import cli
from reports.cli import app
from reports.pipeline import resolve_config

from ..models.conftest import CODEBOOK, make_wide

COMMANDS = typer.main.get_command(app).commands
# what only fit has: its output folder and the inputs `demo` fixes to the example survey
DEMO_FIXED = {"data_file", "codebook", "sheet", "encoding", "sep", "form", "collapse"}


def _options(name: str) -> set[str]:
    return {p.name for p in COMMANDS[name].params}


def test_run_and_demo_take_every_option_of_fit_and_check():
    fit, check = _options("fit"), _options("check") - {"run_dir"}
    assert {"family", "sampler", "outcome", "chains"} <= fit
    assert {"dominance", "loo", "sensitivity", "rope", "threshold", "workers"} <= check
    assert fit | check <= _options("run") | {"run_dir"}
    assert (fit - DEMO_FIXED) | check <= _options("demo")


def test_shared_options_have_one_definition():
    # the same help text everywhere: one Annotated alias per option
    for option in ("family", "sampler", "rope", "threshold", "loo", "sensitivity", "workers"):
        texts = {next(p.help for p in COMMANDS[c].params if p.name == option)
                 for c in ("run", "demo", "check", "fit") if option in _options(c)}
        assert len(texts) == 1, (option, texts)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_help_ends_with_an_example(name):
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    last = [line.strip() for line in result.output.splitlines() if line.strip()][-1]
    assert last.startswith(f"Example: alliance-learning {name}"), last


@pytest.mark.parametrize("args, message", [
    (["--threshold", "0.4"], "--threshold must lie in (0.5, 1]"),
    (["--rope", "-1"], "--rope must be >= 0"),
    (["--workers", "0"], "--workers must be at least 1"),
])
def test_run_checks_the_check_options_before_any_work(tmp_path, args, message):
    data = tmp_path / "survey.csv"
    data.write_text("person\n1\n")
    result = CliRunner().invoke(app, ["run", str(data), "--out", str(tmp_path / "r"), *args],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "r").exists()


def _one_outcome_survey() -> CaseSurvey:
    codebook = copy.deepcopy(CODEBOOK)
    codebook["outcomes"] = {"score": {"scale": "continuous"}}
    wide = make_wide(with_missing=False).drop(columns=["learning", "learned", "hits", "tries"])
    return CaseSurvey.from_wide(wide, Codebook.from_dict(codebook, source="cb"), source="t.csv",
                                sha256="0" * 64)


def test_a_config_without_outcome_takes_the_only_outcome(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[model]\nfamily = "gaussian"\nconditions = ["contact", "absorptive"]\n'
                      '[sampling]\ndraws = 50\n')
    resolved = resolve_config(_one_outcome_survey(), config=config)
    assert resolved.spec.outcome == "score" and resolved.spec.family == "gaussian"
    assert resolved.sampling.draws == 50
    # several outcomes: the error lists them
    config.write_text('[model]\nconditions = ["contact"]\n')
    several = CaseSurvey.from_wide(make_wide(), Codebook.from_dict(CODEBOOK, source="cb"),
                                   source="t.csv", sha256="0" * 64)
    with pytest.raises(SpecError, match="choose the outcome with --outcome.*learning, learned"):
        resolve_config(several, config=config)
    with pytest.raises(SpecError, match="choose the outcome"):
        check_spec(RunConfig.from_dict({"model": {}}).spec, several)


def _checks(interpersonal: float, both_sides: bool = True) -> Checks:
    """Checks holding only side shares: two sides, or the interpersonal side alone."""
    s = np.clip(np.random.default_rng(0).normal(interpersonal, 0.03, (2, 200)), 0, 1)
    shares = np.stack([s, 1 - s] if both_sides else [np.ones_like(s), np.zeros_like(s)], axis=-1)
    side_share = xr.DataArray(shares, dims=("chain", "draw", "side"),
                              coords={"side": ["interpersonal", "interorganisational"]})
    good = {"max_rhat": 1.0, "min_ess_bulk": 1e4, "min_ess_tail": 1e4, "divergences": 0,
            "min_bfmi": 1.0}
    return Checks(verdict=dominance_verdict(side_share, good), diagnostics=good,
                  decomposition=xr.Dataset({"side_share": side_share}), settings={})


def _printed(checks) -> str:
    out = io.StringIO()
    saved, cli.console = cli.console, Console(file=out, width=200)
    try:
        cli._print_verdict(checks)
    finally:
        cli.console = saved
    return out.getvalue()


def test_the_verdict_is_printed_with_its_probability_and_the_share():
    text = _printed(_checks(0.7))
    assert "verdict: interpersonal dominates (P(d > 0.05) = 1.000; a verdict needs >= 0.95)" in text
    row = _checks(0.7).shares()["side_share"].sel(side="interpersonal")
    assert (f"interpersonal share {float(row.sel(stat='mean')):.3f} "
            f"[{float(row.sel(stat='lower')):.3f}, {float(row.sel(stat='upper')):.3f}]") in text
    text = _printed(_checks(0.5))
    assert "verdict: inconclusive (P(d > 0.05) =" in text and "P(d < -0.05) =" in text
    text = _printed(_checks(1.0, both_sides=False))
    assert "verdict: not applicable: the model has no interorganisational condition" in text
    assert "P(d" not in text

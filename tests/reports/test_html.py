"""The HTML report: self-contained, every user string escaped, every section optional."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from analysis import dominance_verdict
from reports import plots
from reports.html import ReportContext, format_cell, render_html, render_report

from .conftest import FIXTURE_NOTICE, fixture_context

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# Every place fixture_context(evil=...) puts the hostile string (its suffix there).
PLACES = [
    "title", "notice", "file_name", "condition", "label", "rater_id", "outcome", "prior_name",
    "effect_title", "model_name", "diagnosis", "command", "run_id", "config_key", "config_value",
    "level_group", "group_id",
]
SECTIONS = ["data", "raters", "model", "diagnostics", "effects", "shares", "dominance", "dominance-analysis",
            "ppc", "loo", "sensitivity", "provenance"]
# forest plot, shares, share difference, predictive check; general dominance; the between-group
# variance per grouping (alliance, network); LOO-PIT; raters
N_IMAGES = 9


@pytest.fixture(scope="module")
def html(report_context) -> str:
    return render_html(report_context)


@pytest.fixture(scope="module")
def evil_html() -> str:
    return render_html(fixture_context(evil=EVIL))


def _section(page: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', page, flags=re.S)
    assert match, f"section {name} missing"
    return match.group(1)


# --- self-contained ------------------------------------------------------------------------


def test_report_is_self_contained(html):
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, flags=re.I)
    assert "url(" not in html  # no CSS loads either
    assert "Content-Security-Policy" in html


def test_images_are_embedded_pngs(html):
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == N_IMAGES
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_full_context_fills_every_section(html, report_context):
    assert "Not available" not in html
    for name in SECTIONS:
        assert "<table" in _section(html, name) or "<img" in _section(html, name), name
    verdict = re.search(r'<div id="verdict"[^>]*>(.*?)</div>\s*<nav>', html, flags=re.S).group(1)
    assert report_context["verdict"].verdict in verdict
    assert f"{report_context['verdict'].p_interpersonal_dominates:.3f}" in verdict
    assert FIXTURE_NOTICE in html


def test_provenance_shows_command_hash_seed_versions_config(html, report_context):
    prov = _section(html, "provenance")
    given = report_context["provenance"]
    assert given["command"] in prov
    assert given["data_hash"] in prov
    assert 'sampler = &#34;nutpie&#34;' in prov  # the config, as TOML
    for package, version in given["versions"].items():
        assert package in prov and version in prov


# --- escaping ------------------------------------------------------------------------------


def test_hostile_strings_never_reach_the_html_raw(evil_html):
    assert "<script" not in evil_html.lower()
    assert ESCAPED in evil_html


@pytest.mark.parametrize("place", PLACES)
def test_hostile_string_renders_as_text_in(place, evil_html):
    assert f"{ESCAPED}{place}" in evil_html


def test_hostile_strings_in_the_new_sections(evil_html):
    """The level group, the condition names of the sub-models and a network's ID."""
    dominance = _section(evil_html, "dominance-analysis")
    assert f"{ESCAPED}level_group" in dominance and f"{ESCAPED}condition" in dominance
    assert f"{ESCAPED}group_id" in _section(evil_html, "ppc")
    assert f"{ESCAPED}rater_id" in _section(evil_html, "raters")  # a rater's ID in its tables


def test_hostile_condition_name_alone():
    """The brief's exact case: a condition named <script>alert(1)</script>."""
    ctx = fixture_context()
    beta = ctx["effects"]["per SD (linear predictor)"]
    names = [EVIL if c == "trust" else c for c in beta["condition"].values]
    page = render_html({"effects": {"per SD": beta.assign_coords(condition=names)},
                        "condition_labels": {EVIL: EVIL}})
    assert "<script>" not in page
    assert page.count(ESCAPED) >= 2  # the name and its label in the effects table


# --- missing sections ----------------------------------------------------------------------


def test_empty_context_says_not_available_everywhere():
    page = render_html({})
    for name in SECTIONS:
        assert "Not available" in _section(page, name), name
    assert re.search(r'<div id="verdict" class="verdict none">\s*.*not available', page, flags=re.S)
    assert "<img" not in page


def test_diagnostics_alone_are_checked_against_the_default_gates():
    page = render_html({"diagnostics": {"max_rhat": 1.05, "min_ess_bulk": 900.0}})
    gates = _section(page, "diagnostics")
    assert gates.count("FAIL") == 4  # R-hat too high; tail ESS, divergences, E-BFMI missing
    assert gates.count(">pass<") == 1


def test_failed_gate_refuses_the_verdict(report_context):
    bad = {**report_context["diagnostics"], "max_rhat": 1.2}
    verdict = dominance_verdict(report_context["decomposition"], bad)
    page = render_html({"verdict": verdict, "diagnostics": bad})
    assert 'class="verdict not-trustworthy"' in page
    assert "refused" in page and "R-hat" in page


def test_verdict_in_its_dict_form(report_context):
    page = render_html({"verdict": report_context["verdict"].to_dict()})
    assert report_context["verdict"].verdict in page
    assert "<img" not in page  # no draws, so no posterior figure


def test_unknown_field_is_an_error_listing_all():
    with pytest.raises(ValueError, match="unknown report field.*colour.*size"):
        render_html({"title": "x", "size": 1, "colour": "red"})


# --- writing -------------------------------------------------------------------------------


def test_never_overwrites_unless_asked(tmp_path):
    out = tmp_path / "report.html"
    out.write_text("keep me")
    with pytest.raises(FileExistsError, match="report.html"):
        render_report({"title": "new"}, out)
    assert out.read_text() == "keep me"
    assert render_report({"title": "new"}, out, overwrite=True) == out
    assert "<h1>new</h1>" in out.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temp file left


def test_failed_render_leaves_the_old_file_and_no_temp_file(tmp_path):
    out = tmp_path / "report.html"
    out.write_text("keep me")
    broken = xr.DataArray(np.zeros((2, 3)), dims=("chain", "draw"))  # no condition dim
    with pytest.raises(Exception):
        render_report({"effects": {"per SD": broken}}, out, overwrite=True)
    assert out.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_creates_the_folder(tmp_path):
    out = render_report(ReportContext(title="t"), tmp_path / "new" / "report.html")
    assert out.exists()


def test_import_loads_no_matplotlib():
    code = "import sys, reports.html; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_rendering_leaves_the_matplotlib_backend_alone(report_context):
    import matplotlib

    before = matplotlib.get_backend()
    render_html({"effects": report_context["effects"]})
    assert matplotlib.get_backend() == before


# --- pieces --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (None, "—"), (float("nan"), "—"), (True, "yes"), (12345, "12,345"), (1.0034, "1.003"),
    (0.0512345, "0.05123"), (123456.7, "123,457"), (["a", "b"], "a, b"), ("x", "x"),
])
def test_format_cell(value, text):
    assert format_cell(value) == text


def test_ppc_plot_for_a_continuous_outcome():
    rng = np.random.default_rng(3)
    observed = xr.DataArray(rng.normal(size=40), dims="individual", name="score")
    predicted = xr.DataArray(rng.normal(size=(2, 50, 40)), dims=("chain", "draw", "individual"))
    fig = plots.ppc_plot(observed, predicted)
    assert fig.axes[0].get_xlabel() == "score"
    assert base64.b64decode(plots.figure_to_base64(fig))[:4] == b"\x89PNG"


def test_difference_plot_of_a_constant_difference():
    # conditions on one side only: the difference is 1 in every draw (up to rounding)
    difference = xr.DataArray(1.0 - np.array([[0.0, 1e-16, 0.0], [2e-16, 0.0, 0.0]]),
                              dims=("chain", "draw"))
    fig = plots.difference_plot(difference, rope=0.05)
    assert base64.b64decode(plots.figure_to_base64(fig))[:4] == b"\x89PNG"
    assert any(line.get_label() == "every draw" for line in fig.axes[0].get_lines())


def test_ppc_plot_asks_the_family_not_the_values():
    # a gaussian outcome with few integer values is still drawn as a density and ECDF overlay;
    # an ordinal one as category shares; without a family the values decide (older fits)
    rng = np.random.default_rng(4)
    values = rng.integers(1, 6, size=40).astype(float)
    predicted = xr.DataArray(rng.integers(1, 6, size=(2, 50, 40)).astype(float),
                             dims=("chain", "draw", "individual"))
    for family, panels, ylabel in (("gaussian", 2, "density"), ("ordinal", 1, "share of respondents"),
                                   (None, 1, "share of respondents")):
        observed = xr.DataArray(values, dims="individual", name="score",
                                attrs={"family": family} if family else {})
        fig = plots.ppc_plot(observed, predicted)
        assert len(fig.axes) == panels and fig.axes[0].get_ylabel() == ylabel, family
    assert fig.axes[0].get_xlabel() == "score"


def test_ppc_plot_of_a_binomial_outcome_is_the_proportion_of_successes():
    # counts out of different trials (herds of 2 to 34 animals, as lme4::cbpp) are not
    # comparable: the figure shows y / trials, as the per-group checks do
    rng = np.random.default_rng(5)
    trials = xr.DataArray(rng.integers(2, 35, size=56), dims="individual")
    y = rng.binomial(trials.values, 0.1).astype(float)
    observed = xr.DataArray(y, dims="individual", name="incidence", attrs={"family": "binomial"})
    predicted = xr.DataArray(rng.binomial(trials.values, 0.1, size=(2, 50, 56)).astype(float),
                             dims=("chain", "draw", "individual"))
    counts = plots.ppc_plot(observed, predicted)  # without the trials: count bars, as before
    assert len(counts.axes) == 1 and counts.axes[0].get_xlabel() == "incidence"
    fig = plots.ppc_plot(observed, predicted, trials=trials)
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel() == "incidence / trials"
    step = next(line for line in fig.axes[1].get_lines() if line.get_color() == "black")
    assert step.get_xdata().max() <= 1  # proportions, not counts
    # one number of trials for everyone (the simulator's): bars per proportion k / n
    ten = xr.full_like(trials, 10)
    y10 = xr.DataArray(rng.binomial(10, 0.3, size=56).astype(float), dims="individual",
                       name="y", attrs={"family": "binomial"})
    bars = plots.ppc_plot(y10, xr.DataArray(rng.binomial(10, 0.3, size=(2, 50, 56)).astype(float),
                                            dims=("chain", "draw", "individual")), trials=ten)
    assert len(bars.axes) == 1 and bars.axes[0].get_ylabel() == "share of respondents"
    labels = [t.get_text() for t in bars.axes[0].get_xticklabels()]
    assert all(0 <= float(t) <= 1 for t in labels) and "0.3" in labels


def test_the_effects_section_says_what_a_binary_conditions_per_sd_effect_is(report_context):
    effects = report_context["effects"]
    first = str(next(iter(effects.values()))["condition"].values[0])
    note = re.compile(r'<p class="lead" id="binary-conditions">(.*?)</p>', re.S)
    assert not note.search(_section(render_html(report_context), "effects"))
    page = render_html({**report_context, "binary_conditions": (first, "not_in_the_model")})
    text = note.search(_section(page, "effects")).group(1)
    assert f"condition: {first}." in text and "not_in_the_model" not in text
    assert "One SD of a 0/1 code is not a meaningful step" in text and "0 → 1 contrast" in text


# --- dominance analysis and per-group predictive checks ---------------------------------------


def _rows(fragment: str, table_id: str) -> list[list[str]]:
    """Cells of each body row of the table inside the element with this id."""
    block = re.search(rf'id="{table_id}".*?<tbody>(.*?)</tbody>', fragment, flags=re.S).group(1)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", block, flags=re.S)]


def test_dominance_analysis_tables_follow_the_draws(html, report_context):
    result = report_context["dominance_analysis"]
    section = _section(html, "dominance-analysis")
    general = _rows(section, "general-dominance")
    assert [row[0] for row in general] == result.ranking
    means = result.general.mean(("chain", "draw"))
    for row in general:  # the posterior mean, as the report rounds it
        assert row[2] == format_cell(round(float(means.sel(level=row[0])), 3))
    pairs = {row[0]: row[1:] for row in _rows(section, "pairwise-dominance")}
    n = len(result.groups)
    assert len(pairs) == n * (n - 1)  # every ordered pair
    for a in result.groups:
        for b in result.groups:
            if a != b:
                sel = {"level": a, "other_level": b}
                assert pairs[f"{a} dominates {b}"] == [
                    f"{float(p.sel(sel)):.3f}"
                    for p in (result.p_complete, result.p_conditional, result.p_general)]
    assert 'id="dominance-figure"' in section


def test_a_sub_model_failing_its_gates_is_shown(html, report_context):
    from .conftest import FAILING_SUBSET

    section = _section(html, "dominance-analysis")
    rows = re.findall(r'<tr class="(passed|failed)"><td>(.*?)</td>', section)
    assert [label for status, label in rows if status == "failed"] == [FAILING_SUBSET]
    assert len(rows) == len(report_context["dominance_analysis"].submodels)
    warning = re.search(r'<p class="fail" id="failed-submodels">(.*?)</p>', section).group(1)
    assert FAILING_SUBSET in warning and "1 of 6" in warning


def test_the_sub_model_table_shows_draws_per_chain_and_extensions(html, report_context):
    from .conftest import EXTENDED_SUBSET

    section = _section(html, "dominance-analysis")
    header = re.search(r'<table id="submodels">\s*<thead>(.*?)</thead>', section, flags=re.S).group(1)
    assert re.findall(r"<th>(.*?)</th>", header)[-2:] == ["draws per chain", "extended"]
    rows = {cells[0]: cells for cells in
            (re.findall(r"<td[^>]*>(.*?)</td>", row) for row in
             re.findall(r'<tr class="(?:passed|failed)">(.*?)</tr>', section))}
    for label, entry in report_context["dominance_analysis"].submodels.items():
        expected = "yes, once" if label == EXTENDED_SUBSET else "no"
        assert rows[label][-2:] == [f"{entry['draws']:,}", expected]
    assert 'id="submodel-columns"' in section


def test_per_group_checks_show_the_group_statistic_and_loo_pit(html, report_context):
    checks = report_context["ppc_checks"]
    section = _section(html, "ppc")
    for key, stat in checks.group_statistics.items():
        assert f"between-{key} variance of the mean outcome" in section
        assert f"<td>{stat.p_value:.3f}</td>" in section
    assert f"<td>{checks.loo_pit.p_value:.3f}</td>" in section
    groups = re.search(r'<div id="ppc-groups">(.*)</div>', section, flags=re.S).group(1)
    # one figure per grouping and the LOO-PIT
    assert groups.count("<img") == len(checks.group_statistics) + 1
    assert 'id="loo-pit-figure"' in groups


def test_skipped_or_failed_checks_say_why():
    page = render_html({"unavailable": {"dominance": "skipped: not asked for",
                                        "ppc": f"failed: ValueError: bad {EVIL}"}})
    assert ("Not available: Bayesian dominance analysis (skipped: not asked for)"
            in _section(page, "dominance-analysis"))
    assert (f"Not available: per-group predictive checks and LOO-PIT (failed: ValueError: bad {ESCAPED})"
            in _section(page, "ppc"))
    assert "<script" not in page


def test_a_figure_that_cannot_be_drawn_does_not_lose_the_page(report_context, monkeypatch):
    """E.g. a histogram of a constant share difference (a one-sided survey)."""
    def refuse(*args, **kwargs):
        raise ValueError("Too many bins for data range")

    monkeypatch.setattr(plots, "difference_plot", refuse)
    page = render_html(report_context)
    errors = page.split('id="check-errors"')[1].split("</div>")[0]
    assert "figure: share difference" in errors and "Too many bins" in errors
    assert "this figure could not be drawn" not in page.split('id="dominance"')[0]
    assert 'id="dominance"' in page and "<table" in page.split('<section id="dominance">')[1]


def test_verdict_box_gives_the_interpersonal_share_and_its_interval(report_context):
    page = render_html({"verdict": report_context["verdict"],
                        "decomposition": report_context["decomposition"]})
    box = page[page.index('id="verdict"'):page.index("<nav>")]
    share = report_context["decomposition"]["side_share"].sel(side="interpersonal")
    assert f"{float(share.mean()):.3f}" in box and "89% equal-tailed interval (ETI)" in box


def test_a_close_call_is_said_and_a_clear_one_is_not(report_context):
    verdict = report_context["verdict"].to_dict()
    deciding = max(verdict["p_interpersonal_dominates"], verdict["p_interorganisational_dominates"])
    # the same verdict against a threshold 0.01 from its deciding probability, then 0.1 away
    close = render_html({"verdict": {**verdict, "prob_threshold": deciding - 0.01}})
    clear = render_html({"verdict": {**verdict, "prob_threshold": deciding - 0.1}})
    assert 'id="near-threshold"' in close and "Close call" in close
    assert 'id="near-threshold"' not in clear


def _draws(rng, loc, scale, shape=(2, 400)):
    return xr.DataArray(np.abs(rng.normal(loc, scale, shape)), dims=("chain", "draw"))


def _stats(da):
    from data.intervals import credible_interval

    ci = credible_interval(da, dim=("chain", "draw"))
    return {"mean": float(da.mean()), "sd": float(da.std(ddof=1)),
            "lower": float(ci.sel(ci_bound="lower")), "upper": float(ci.sel(ci_bound="upper"))}


@pytest.mark.parametrize("family", ["ordinal", "gaussian"])
def test_other_parameters_and_the_variance_partition(family):
    """Group SDs, sigma or cutpoints, intercept as summary.json gives them; the ICC per draw."""
    from reports.context import parameter_table, variance_partition

    rng = np.random.default_rng(7)
    posterior = xr.Dataset({"sd_alliance": _draws(rng, 0.8, 0.05),
                            "sd_network": _draws(rng, 0.4, 0.05)})
    summary = {"interval": "89% ETI (lower to upper)",
               "group_sd": {level: _stats(posterior[f"sd_{level}"])
                            for level in ("alliance", "network")}}
    if family == "gaussian":
        posterior["sigma"] = _draws(rng, 2.0, 0.1)
        summary["sigma"] = _stats(posterior["sigma"])
        summary["intercept"] = _stats(_draws(rng, 5.0, 0.2))
        residual = posterior["sigma"] ** 2
    else:
        cuts = xr.DataArray(np.sort(rng.normal(0, 1, (2, 400, 3)), axis=-1),
                            dims=("chain", "draw", "cutpoint"), coords={"cutpoint": ["1|2", "2|3", "3|4"]})
        posterior["cutpoints"] = cuts
        summary["cutpoints"] = {c: _stats(cuts.sel(cutpoint=c)) for c in ("1|2", "2|3", "3|4")}
        residual = np.pi**2 / 3
    parameters = parameter_table(summary)
    partition = variance_partition(posterior, family, prob=0.89)

    # the ICC of a level is its variance over the total, per draw: near the ratio of the
    # means' squares (tolerance: a few posterior SDs of the share, which is small here)
    total = posterior["sd_alliance"] ** 2 + posterior["sd_network"] ** 2 + residual
    icc = posterior["sd_alliance"] ** 2 / total
    assert partition.loc["alliance", "mean"] == pytest.approx(float(icc.mean()), abs=1e-12)
    sd_mean = summary["group_sd"]["alliance"]["mean"]
    others = summary["group_sd"]["network"]["mean"] ** 2 + float(np.mean(residual))
    assert partition.loc["alliance", "mean"] == pytest.approx(
        sd_mean**2 / (sd_mean**2 + others), abs=3 * partition.loc["alliance", "sd"])
    assert partition["mean"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (partition["lower"] <= partition["mean"]).all()

    html = render_html(ReportContext(parameters=parameters, variance_partition=partition,
                                     parameters_interval=summary["interval"], ci_prob=0.89))
    section = html[html.index('<section id="parameters">'):]
    section = section[:section.index("</section>")]
    assert "89% ETI (lower to upper)" in section and "group SD: alliance" in section
    assert "89% equal-tailed interval" in section  # the partition's, from the one setting
    assert f"{round(partition.loc['alliance', 'mean'], 3):.4g}" in section
    assert f"{round(summary['group_sd']['network']['mean'], 3):.4g}" in section
    if family == "gaussian":
        assert "sigma (residual SD)" in section and "intercept" in section
        assert f"{round(summary['sigma']['mean'], 3):.4g}" in section
        assert "<td>cutpoint" not in section
    else:
        assert "cutpoint 2|3" in section and "sigma (residual SD)" not in section
        assert f"{round(summary['cutpoints']['1|2']['mean'], 3):.4g}" in section


def test_loo_and_sensitivity_columns_are_explained():
    import pandas as pd

    from reports.context import _loo_frame, _sensitivity_frame

    loo = _loo_frame({"method": "stacking", "khat_threshold": 0.7, "models": [
        {"model": "both", "rank": 0, "elpd": -10.0, "se": 1.0, "elpd_diff": 0.0, "dse": 0.0,
         "p": 3.0, "weight": 1.0, "pareto_k": {"n_k_over_threshold": 0}}]})
    sensitivity = _sensitivity_frame({"threshold": 0.05, "quantities": {
        "share[alliance]": {"prior": 0.01, "likelihood": 0.2, "diagnosis": "✓", "flagged": False}}})
    html = render_html(ReportContext(loo=loo, sensitivity=sensitivity))
    assert re.search(r'id="loo-columns">.*elpd_diff.*dse.*stacking weight.*Pareto k', html)
    assert re.search(r'id="sensitivity-columns">.*Jensen-Shannon.*threshold of 0\.05', html)
    assert isinstance(loo, pd.DataFrame)

"""The power study (analysis.power): its table, its reading, its keys, resuming by content.

The rates and the "what would it take" reading are checked on hand-made records whose
answers are known; the end-to-end test fits a tiny design (2 design points x 3 simulations,
2 chains x 100 draws: its verdicts are mostly "not trustworthy", which is what such a fit
deserves, and all the test needs).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from analysis.power import (
    PowerStudy,
    outcome_of,
    power_table,
    run_power_study,
    simulation_key,
    true_side,
    what_it_takes,
)
from data import Design, load_codebook
from data.files import MARKER
from models import FitOptions, ModelSpec

# A survey of a few dozen respondents with fixed sizes and no missing codes, so that every
# simulation of a design point has the same shapes and the model compiles once per point.
TINY = Design(alliances=6, organisations=(2, 2), networks=(2, 2), people=(4, 4),
              respondents_per_organisation=(2, 2),
              conditions=("personal_contact", "shared_interests", "receptivity", "expected_payoff"),
              interpersonal_share=0.8, explained_variance=2.0,
              group_sd={"network": 0.3, "organisation": 0.3, "alliance": 0.3},
              alliance_outcome=None, missing_rate=0.0)


def tiny_study(sims: int = 3, **changes) -> PowerStudy:
    options = {"design": TINY, "alliances": (6, 10), "sims": sims, "codebook": load_codebook(None),
               "spec": ModelSpec(outcome=TINY.outcome),
               "sampling": FitOptions(chains=2, draws=100, tune=100, seed=11)}
    return PowerStudy(**{**options, **changes})


def record(alliances, index, verdict, truth="interpersonal dominates", lower=0.5, upper=0.9):
    return {"key": f"k{alliances}-{index}", "alliances": alliances, "index": index,
            "verdict": verdict, "truth": truth, "true_share": 0.8, "share_mean": 0.7,
            "share_lower": lower, "share_upper": upper}


def records_with(alliances: int, counts: dict, truth="interpersonal dominates") -> list[dict]:
    verdicts = {"correct": truth, "wrong_side": "interorganisational dominates",
                "inconclusive": "inconclusive", "not_trustworthy": "not trustworthy"}
    out = []
    for name, k in counts.items():
        out += [record(alliances, len(out) + i, verdicts[name], truth) for i in range(k)]
    return out


# -- counting -------------------------------------------------------------------------------------
def test_each_verdict_counts_against_the_truth():
    assert true_side(0.2, 0.05) == "interpersonal dominates"
    assert true_side(-0.2, 0.05) == "interorganisational dominates"
    assert true_side(0.05, 0.05) == "no side dominates"
    assert outcome_of(record(20, 0, "interpersonal dominates")) == "correct"
    assert outcome_of(record(20, 0, "interorganisational dominates")) == "wrong_side"
    # with equal shares any "dominates" verdict is wrong, and none can be correct
    assert outcome_of(record(20, 0, "interpersonal dominates", truth="no side dominates")) == "wrong_side"
    assert outcome_of(record(20, 0, "inconclusive")) == "inconclusive"
    assert outcome_of(record(20, 0, "not trustworthy")) == "not_trustworthy"


def test_table_gives_rates_with_wilson_intervals_and_the_mean_width():
    rows = records_with(20, {"correct": 8, "wrong_side": 1, "inconclusive": 1})
    rows[0]["share_upper"] = 1.3  # one interval of width 0.8, nine of 0.4
    table = power_table(rows).iloc[0]
    assert table["sims"] == 10 and table["correct"] == 8 and table["not_trustworthy"] == 0
    assert table["p_correct"] == pytest.approx(0.8)
    # Wilson's 95% interval of 8/10, worked by hand: 0.7167 +- 0.2266
    assert table["p_correct_lower"] == pytest.approx(0.4902, abs=1e-4)
    assert table["p_correct_upper"] == pytest.approx(0.9433, abs=1e-4)
    assert table["p_wrong_side"] == pytest.approx(0.1)
    assert table["width_mean"] == pytest.approx(0.44)
    assert table["width_se"] == pytest.approx(0.04)  # SD 0.1265 / sqrt(10)


def test_table_does_not_depend_on_the_order_of_the_records():
    rows = records_with(20, {"correct": 3, "inconclusive": 2}) + records_with(30, {"correct": 4, "wrong_side": 1})
    assert power_table(rows).equals(power_table(rows[::-1]))


# -- what would it take ----------------------------------------------------------------------------
def table_of(rates: dict, truth="interpersonal dominates"):
    rows = []
    for alliances, k in rates.items():
        rows += records_with(alliances, {"correct": k, "inconclusive": 20 - k}, truth)
    return power_table(rows)


def test_what_it_takes_interpolates_between_design_points():
    answer = what_it_takes(table_of({20: 10, 30: 14, 50: 18}), target=0.8)
    # 0.7 at 30 and 0.9 at 50: 0.8 is half way, at 40 alliances
    assert answer.status == "reached" and answer.alliances == 40
    assert answer.low is not None and answer.low < 40
    assert "40 alliances" in answer.text


def test_what_it_takes_says_when_the_target_is_out_of_range():
    above = what_it_takes(table_of({20: 10, 30: 12}), target=0.8)
    assert above.status == "not reached" and above.alliances is None
    assert "not reached" in above.text and "20-30" in above.text
    below = what_it_takes(table_of({20: 19, 30: 20}), target=0.8)
    assert below.status == "at smallest" and below.alliances == 20
    assert "smallest design point" in below.text
    equal = what_it_takes(table_of({20: 0, 30: 0}, truth="no side dominates"), target=0.8)
    assert equal.status == "not applicable" and equal.alliances is None
    with pytest.raises(ValueError, match="target"):
        what_it_takes(table_of({20: 10}), target=1.5)


# -- keys and the folder --------------------------------------------------------------------------
def test_key_changes_with_every_input_and_only_with_them():
    jobs = tiny_study(sims=2).jobs()
    assert len(jobs) == 4 and [j.alliances for j in jobs] == [6, 10, 6, 10]  # round-robin
    assert len({job.key for job in jobs}) == 4
    job = jobs[0]
    assert simulation_key(job) == tiny_study(sims=5).jobs()[0].key  # more sims: same first jobs
    changed = [
        dataclasses.replace(job, seed=job.seed + 1),
        dataclasses.replace(job, sampling={**job.sampling, "draws": 101}),
        dataclasses.replace(job, design=dataclasses.replace(job.design, interpersonal_share=0.7)),
        dataclasses.replace(job, design=dataclasses.replace(job.design, missing_rate=0.1)),
        dataclasses.replace(job, rope=0.1),
        dataclasses.replace(job, spec=dataclasses.replace(job.spec, family="gaussian")),
    ]
    assert len({c.key for c in changed} | {job.key}) == len(changed) + 1


def test_study_refuses_a_one_sided_design_and_bad_settings():
    one_sided = dataclasses.replace(TINY, conditions=("personal_contact", "shared_interests"))
    with pytest.raises(ValueError, match="no interorganisational condition"):
        tiny_study(design=one_sided)
    with pytest.raises(ValueError, match="sims must be"):
        tiny_study(sims=0)


def test_a_folder_with_other_files_is_refused_and_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a power study's folder"):
        run_power_study(tiny_study(sims=1), tmp_path, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


# -- end to end: fits -----------------------------------------------------------------------------
def stop_after(n: int):
    """An on_result callback that fails after ``n`` simulations were fitted (an interruption)."""
    fitted = []

    def callback(record, fitted_now):
        if fitted_now:
            fitted.append(record["key"])
            if len(fitted) >= n:
                raise RuntimeError("interrupted on purpose")

    return callback


def test_small_study_runs_resumes_and_grows(tmp_path):
    study = tiny_study(sims=3)
    whole = run_power_study(study, tmp_path / "whole", workers=1)
    assert whole.fitted == 6 and whole.reused == 0
    table = whole.table
    assert table["alliances"].tolist() == [6, 10] and table["sims"].tolist() == [3, 3]
    assert (table[["correct", "wrong_side", "inconclusive", "not_trustworthy"]].sum(axis=1) == 3).all()
    assert (table["truth"] == "interpersonal dominates").all()
    assert table["true_share"].tolist() == pytest.approx([0.8, 0.8])  # the simulator hits the target
    assert (table["width_mean"] > 0).all() and (table["width_mean"] < 1).all()
    folder = tmp_path / "whole"
    for name in ("power.csv", "power.png", "power.json", MARKER):
        assert (folder / name).is_file(), name
    stored = sorted((folder / "simulations").glob("*.json"))
    assert len(stored) == 6
    one = json.loads(stored[0].read_text())
    assert stored[0].stem == one["key"] and one["verdict"] and one["diagnostics"]["max_rhat"] > 0

    # interrupted after 2 fits, then rerun: only the 4 missing are fitted, same table
    part = tmp_path / "part"
    with pytest.raises(RuntimeError, match="on purpose"):
        run_power_study(study, part, workers=1, on_result=stop_after(2))
    assert len(list((part / "simulations").glob("*.json"))) == 2
    assert not (part / "power.csv").exists()
    resumed = run_power_study(study, part, workers=1)
    assert (resumed.fitted, resumed.reused) == (4, 2)
    assert (part / "power.csv").read_bytes() == (folder / "power.csv").read_bytes()

    # one more simulation per design point: 2 fits, the first 3 per point unchanged
    grown = run_power_study(tiny_study(sims=4), part, workers=1)
    assert (grown.fitted, grown.reused) == (2, 6)
    assert grown.table["sims"].tolist() == [4, 4]
    again = run_power_study(study, part, workers=1)  # back to 3: the first table again
    assert again.fitted == 0
    assert (part / "power.csv").read_bytes() == (folder / "power.csv").read_bytes()


def test_a_damaged_record_is_named(tmp_path):
    study = tiny_study(sims=1)
    job = study.jobs()[0]
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / MARKER).write_text("x")
    (folder / "simulations").mkdir()
    (folder / "simulations" / f"{job.key}.json").write_text("{not json")
    with pytest.raises(ValueError, match=f"{job.key}.json: damaged"):
        run_power_study(study, folder, workers=1)

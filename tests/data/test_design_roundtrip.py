"""Property-based test: every valid simulation design round-trips through TOML.

``Design.to_dict`` is what ``simulate`` writes into truth.json and what a user saves as
design.toml; ``load_design`` must give the same design back, None fields included (TOML
has no null, so ``alliance_outcome = ""`` and ``cutpoints = []`` spell none).
"""

import tomllib

import tomli_w
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from data import Design, DesignError, load_design
from data.codebook import GROUP_LEVELS
from data.simulate import EXAMPLE_CONDITIONS, FAMILIES, SIZE_LIMITS

SETTINGS = settings(max_examples=150, derandomize=True, deadline=None, database=None)

unit = st.floats(0, 0.99, allow_nan=False)
positive = st.floats(0.01, 100, allow_nan=False)
number = st.floats(-50, 50, allow_nan=False)


def ranges(low: int, high: int):
    return st.tuples(st.integers(low, high), st.integers(low, high)).map(sorted).map(tuple)


@st.composite
def designs(draw) -> Design:
    conditions = tuple(draw(st.lists(st.sampled_from(EXAMPLE_CONDITIONS), min_size=1,
                                     max_size=6, unique=True)))
    explicit = draw(st.booleans())
    values = dict(
        alliances=draw(st.integers(1, 60)),
        organisations=draw(ranges(*SIZE_LIMITS["organisations"])),
        networks=draw(ranges(*SIZE_LIMITS["networks"])),
        people=draw(ranges(*SIZE_LIMITS["people"])),
        respondents_per_organisation=draw(ranges(*SIZE_LIMITS["respondents_per_organisation"])),
        shared_organisations=draw(unit),
        conditions=conditions,
        condition_correlation=draw(unit),
        effects={c: draw(number) for c in conditions} if explicit else None,
        interpersonal_share=None if explicit else draw(st.none() | st.floats(0, 1)),
        explained_variance=draw(positive),
        effect_weights=draw(st.dictionaries(st.sampled_from(conditions), positive, max_size=3)),
        group_sd=draw(st.dictionaries(st.sampled_from(GROUP_LEVELS), positive, max_size=4)),
        family=draw(st.sampled_from(FAMILIES)),
        outcome=draw(st.sampled_from(["individual_learning", "learning", "y"])),
        alliance_outcome=draw(st.sampled_from([None, "", "collective_learning", "z"])),
        cutpoints=draw(st.none() | st.lists(number, min_size=1, max_size=6, unique=True)
                       .map(sorted).map(tuple)),
        intercept=draw(number), sigma=draw(positive), trials=draw(st.integers(1, 50)),
        count_mean=draw(positive), missing_rate=draw(unit),
        raters=draw(st.none() | st.fixed_dictionaries(
            {"n": st.integers(1, 5).map(float), "bias_sd": positive, "noise_sd": positive})),
    )
    try:
        return Design(**values)
    except DesignError:  # e.g. sizes that cannot fill a network: not a design to round-trip
        assume(False)


@SETTINGS
@given(designs())
def test_every_design_round_trips_through_toml(design):
    raw = tomllib.loads(tomli_w.dumps(design.to_dict()))
    assert Design.from_dict(raw) == design


def test_no_alliance_outcome_and_default_cutpoints_round_trip(tmp_path):
    for design in (Design(), Design(alliance_outcome=None), Design(cutpoints=None),
                   Design(alliance_outcome=None, cutpoints=None, family="gaussian")):
        path = tmp_path / "design.toml"
        path.write_text(tomli_w.dumps(design.to_dict()), encoding="utf-8")
        back = load_design(path)
        assert (back.alliance_outcome, back.cutpoints) == (design.alliance_outcome,
                                                           design.cutpoints)
        assert back == design

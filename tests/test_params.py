"""Parameter profiles: loading, inheritance, overrides and validation messages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from shoplog.config.params import ParamsError, apply_overrides, load_params, read_profile


def test_profiles_in_repo_are_valid() -> None:
    for profile in Path(__file__).parents[1].joinpath("params").glob("*.yml"):
        params = load_params(profile.stem)
        study = params.study
        assert not study.is_resolved or study.end_date > study.start_date  # type: ignore[operator]


def test_ci_extends_default() -> None:
    default, ci = load_params("default"), load_params("ci")
    assert ci.profile == "ci"
    assert ci.data.synthetic.preset == "tiny"
    # inherited values are the default's; overridden ones are the profile's own
    assert ci.anchors.spacing_days == default.anchors.spacing_days
    assert ci.anchors.horizon_days == 14 != default.anchors.horizon_days
    assert ci.seed == default.seed


def test_override_parses_dates_and_numbers() -> None:
    params = load_params("ci", ["study.end_date=2020-01-15", "anchors.horizon_days=14"])
    assert params.study.end_date == dt.date(2020, 1, 15)
    assert params.anchors.horizon_days == 14


def test_auto_window_resolves_only_its_auto_sides() -> None:
    params = load_params("default", ["study.end_date=2020-03-01"])
    assert params.study.start_date == "auto" and not params.study.is_resolved
    resolved = params.with_study(dt.date(2019, 10, 2), dt.date(2020, 7, 1))
    assert (resolved.study.start_date, resolved.study.end_date) == (
        dt.date(2019, 10, 2),
        dt.date(2020, 3, 1),
    )
    assert resolved.study.is_resolved and params.study.start_date == "auto"


def test_dates_out_of_order_are_rejected_with_key() -> None:
    with pytest.raises(ParamsError, match=r"study: .*end_date 2019-09-01 must be after"):
        load_params("ci", ["study.end_date=2019-09-01"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("anchors.horizon_days=0", r"anchors.horizon_days: .*greater than 0"),
        ("anchors.spacing_days=-7", r"anchors.spacing_days"),
        ("targeting.top_k_fraction=1.5", r"targeting.top_k_fraction"),
        ("study.end_date=someday", r"study.end_date"),
        ("study.end_dat=2020-01-01", r"study.end_dat: unknown key"),
        ("data.mapping.event_types={pv: viewed}", r"unknown types"),
        ("data.synthetic.preset=huge", r"data.synthetic.preset"),
    ],
)
def test_invalid_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        load_params("ci", [override])


def test_headerless_mapping_needs_names() -> None:
    with pytest.raises(ParamsError, match="names"):
        load_params("ci", ["data.mapping.header=false"])


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(ParamsError, match=r"known profiles: .*'ci'.*'default'"):
        read_profile("nope")


def test_override_needs_equals() -> None:
    with pytest.raises(ParamsError, match=r"section\.key=value"):
        apply_overrides({}, ["study.end_date"])


def test_flat_view_has_unique_section_keys() -> None:
    flat = load_params("default").flat()
    assert flat["study_end_date"] == "auto"
    assert flat["anchors_horizon_days"] == 30
    assert flat["seed"] == 42
    assert isinstance(flat["data_mapping"], dict)


def test_the_currency_is_usd_for_the_synthetic_shop_and_unnamed_for_a_file() -> None:
    assert load_params("default").data.currency == "USD"
    own = load_params("default", ["data.source=data/raw/shop.csv"])
    assert own.data.currency is None
    assert load_params("default", ["data.source=x.csv", "data.currency=EUR"]).data.currency == "EUR"
    assert load_params("cdnow").data.currency == "USD"
    with pytest.raises(ParamsError, match="not a currency"):
        load_params("default", ["data.currency=two words"])

"""A canonical dataset read in place (``data.canonical``): validated, windowed and read
by the engine without ingesting a copy. Its report and rows equal ingestion's on the same
log; folders outside the study window are pruned without losing rows of any zone; a row
the schema does not allow stops the run, naming the column."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from cibooks import partitioned

from shoplog import cli
from shoplog.config.params import Params, ParamsError, load_params
from shoplog.config.paths import ProjectPaths
from shoplog.events import canonical, engine
from shoplog.events.canonical import CanonicalError
from shoplog.events.ingest import QualityReport, ingest, quality_facts, quality_table
from shoplog.publish.registry import available_parameters, chapters

ORDER = ["user_id", "event_time", "event_type", "product_id", "user_session"]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectPaths, QualityReport]:
    """The CI log, ingested as usual: what a dataset read in place must match."""
    paths = ProjectPaths(data_dir=tmp_path_factory.mktemp("ingested") / "data")
    return paths, ingest(load_params("ci"), paths)


def in_place(source: Path | str, *overrides: str) -> Params:
    return load_params("ci", [f"data.source={source}", "data.canonical=true", *overrides])


def rows(events: pd.DataFrame) -> pd.DataFrame:
    return events.sort_values(ORDER).reset_index(drop=True)


def read_back(params: Params, paths: ProjectPaths) -> pd.DataFrame:
    con = engine.connect(params.engine)
    try:
        return engine.read_events(con, paths.events_ref_path).to_pandas()
    finally:
        con.disconnect()


def test_a_dataset_read_in_place_matches_its_ingestion(ingested, tmp_path: Path) -> None:
    paths, want = ingested
    folder = partitioned(pq.read_table(paths.events_path), tmp_path / "canon")
    params = in_place(folder)
    here = ProjectPaths(data_dir=tmp_path / "data")
    got = canonical.describe(params, here)
    for key in (
        "rows_kept", "users", "sessions", "first_event", "last_event", "study_start",
        "study_end", "time_resolution", "set_aside", "partial_days",
    ):  # fmt: skip
        assert getattr(got, key) == getattr(want, key), key
    assert got.read_in_place and got.rows_read == want.rows_kept
    # no copy of the log: chapters read the dataset through the reference
    assert here.events_ref_path.exists() and not here.events_path.exists()
    assert QualityReport.from_json(here.quality_path) == got
    original = pd.read_parquet(paths.events_path)
    back = read_back(params, here)
    assert list(back.columns) == list(original.columns)
    pd.testing.assert_frame_equal(rows(back), rows(original), check_dtype=False)
    # the Data page's table has the study window's rows only, and they add up
    table = quality_table(got)
    assert [s for s in table["Step"] if s.startswith("Dropped")] == [
        "Dropped: Before the study window",
        "Dropped: After the study window",
    ]
    assert "Times are in UTC, as the canonical schema stores them." in quality_facts(got)


def test_a_study_window_inside_the_dataset_counts_what_it_leaves_out(
    ingested, tmp_path: Path
) -> None:
    """Folders are pruned with a day of margin, so a dataset partitioned by local dates
    (here Los Angeles: 8 hours behind UTC) loses no row of the window."""
    paths, _ = ingested
    original = pd.read_parquet(paths.events_path)
    folder = partitioned(pq.read_table(paths.events_path), tmp_path / "la", "America/Los_Angeles")
    start, end = dt.date(2019, 11, 1), dt.date(2019, 12, 1)
    params = in_place(folder, f"study.start_date={start}", f"study.end_date={end}")
    here = ProjectPaths(data_dir=tmp_path / "data")
    got = canonical.describe(params, here)
    time = original["event_time"]
    inside = original[(time >= pd.Timestamp(start)) & (time < pd.Timestamp(end))]
    assert got.drops == {
        "before_study_window": int((time < pd.Timestamp(start)).sum()),
        "after_study_window": int((time >= pd.Timestamp(end)).sum()),
    }
    assert got.rows_kept == len(inside) > 1000 and not got.study_auto
    assert got.users_lost == original["user_id"].nunique() - inside["user_id"].nunique()
    got.check_balance()
    pd.testing.assert_frame_equal(rows(read_back(params, here)), rows(inside), check_dtype=False)
    # the first hours of 2019-11-01 UTC sit in the folder of 2019-10-31, Los Angeles time
    early = inside[inside["event_time"] < pd.Timestamp("2019-11-01 07:00")]
    assert len(early) > 0


def test_zoned_times_and_whole_number_ids_are_read_as_canonical(ingested, tmp_path: Path) -> None:
    paths, _ = ingested
    table = pq.read_table(paths.events_path)
    zoned = pc.assume_timezone(table["event_time"], "UTC")
    table = table.set_column(0, "event_time", zoned)
    ids = pc.cast(pc.replace_substring_regex(table["user_id"], r"\D", ""), pa.int64())
    table = table.set_column(table.schema.get_field_index("user_id"), "user_id", ids)
    pq.write_table(table, tmp_path / "one.parquet")
    params = in_place(tmp_path / "one.parquet")
    here = ProjectPaths(data_dir=tmp_path / "data")
    canonical.describe(params, here)
    back = read_back(params, here)
    assert (
        str(back["event_time"].dtype).startswith("datetime64") and back["event_time"].dt.tz is None
    )
    want = pd.read_parquet(paths.events_path)
    assert back["event_time"].sort_values().tolist() == want["event_time"].sort_values().tolist()
    assert set(back["user_id"]) == {str(i) for i in ids.to_pylist()}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["brand"]), r"no column\(s\) \['brand'\]"),
        (
            lambda t: _set(t, "user_id", 3, None),
            r"1 of .* rows are not canonical \(user_id is missing\)",
        ),
        (lambda t: _set(t, "event_type", 5, "wishlist"), r"event_type is not one of view, cart"),
        (lambda t: _set(t, "price", 7, -1.0), r"price is negative"),
        (lambda t: _set(t, "price", 7, float("nan")), r"price is not a finite number"),
        (
            lambda t: t.set_column(6, "price", pa.array(["1"] * len(t))),
            r"column 'price' is string, the canonical schema has float64",
        ),
    ],
    ids=["missing column", "no user", "unknown type", "negative price", "nan price", "text price"],
)
def test_a_row_the_schema_does_not_allow_stops_the_run(
    ingested, tmp_path: Path, change, message: str
) -> None:
    paths, _ = ingested
    pq.write_table(change(pq.read_table(paths.events_path)), tmp_path / "bad.parquet")
    here = ProjectPaths(data_dir=tmp_path / "data")
    with pytest.raises(CanonicalError, match=message) as caught:
        canonical.describe(in_place(tmp_path / "bad.parquet"), here)
    assert "bad.parquet" in str(caught.value) and "data.canonical" in str(caught.value)
    assert not here.quality_path.exists()


def _set(table: pa.Table, column: str, row: int, value: object) -> pa.Table:
    values = table[column].to_pylist()
    values[row] = value
    index = table.schema.get_field_index(column)
    return table.set_column(index, column, pa.array(values, table.schema.field(column).type))


def test_canonical_needs_a_dataset_and_no_mapping() -> None:
    with pytest.raises(ParamsError, match="synthetic shop is always ingested"):
        load_params("ci", ["data.canonical=true"])
    with pytest.raises(ParamsError, match=r"data\.mapping does not apply"):
        load_params("ci", ["data.source=x/", "data.canonical=true", "data.mapping.delimiter=;"])
    params = in_place("s3a://bucket/events")
    assert params.data.location() == "s3a://bucket/events"
    con = engine.connect(params.engine)
    with pytest.raises(CanonicalError, match="read by Spark"):
        canonical.open_dataset(con, params.data.location())
    con.disconnect()
    # the runner asks for the dataset's files first: the same answer, not a crash
    with pytest.raises(CanonicalError, match="read by Spark"):
        canonical.source_stamp(params)


@pytest.mark.e2e
def test_the_data_chapter_reads_a_dataset_in_place(ingested, tmp_path: Path) -> None:
    paths, want = ingested
    folder = partitioned(pq.read_table(paths.events_path), tmp_path / "canon")
    here = ProjectPaths.create(tmp_path / "data", tmp_path / "build")
    args = ["run", "--profile", "ci", "--data-dir", str(here.data_dir), "--only", "01_data"]
    args += ["--build-dir", str(here.build_dir), "--set", f"data.source={folder}"]
    assert cli.main([*args, "--set", "data.canonical=true"]) == 0
    assert not here.events_path.exists()
    params = in_place(folder)
    data = next(c for c in chapters(here) if c.name == "01_data")
    assert available_parameters(params, here, data)["events_path"].endswith("events.ref.json")
    executed = (here.stage_dir / "notebooks" / "01_data.ipynb").read_text()
    assert "validated and read in place" in executed
    assert "Duplicates were not looked for" in executed
    assert "mapped to the canonical schema below" not in executed
    glued = json.loads(here.glued_path("01_data").read_text())
    assert glued["log_kind"] == "validated log"
    assert glued["rows_read"] == want.rows_kept and glued["rows_dropped"] == 0

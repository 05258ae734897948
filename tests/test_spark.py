"""The engine on Apache Spark (``engine.backend: pyspark``, ``local[2]``) computes what DuckDB
computes on the CI book's log, read in place as a dataset partitioned by date: the
modelling table and the daily sequences, the directly-follows counts and variants, the
daily series, the cohort matrix and the segments' top categories (integers exactly, floats
to 1e-9); and the CI book's chapters that scan the log, built on Spark, glue the same
numbers and hand the later chapters the same tables.

Spark needs a Java runtime: ``make test`` installs Debian's OpenJDK when it is missing.
These tests are skipped, saying why, only when pyspark or Java cannot be had."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from cibooks import partitioned, run_ci

from shoplog.action import segments
from shoplog.behaviour import eda, journeys, seasonality
from shoplog.config.params import EngineParams, load_params
from shoplog.config.paths import ProjectPaths
from shoplog.dataset import table as dataset
from shoplog.dataset.sequences import daily_activity, read_sequences
from shoplog.dataset.splits import Timeline
from shoplog.events import canonical, engine
from shoplog.events.ingest import QualityReport

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        engine.spark_unavailable() is not None, reason=str(engine.spark_unavailable())
    ),
]

SPARK = ["engine.backend=pyspark", "engine.spark.master=local[2]", "engine.spark.driver_memory=2g"]


def assert_same_frame(duck: pd.DataFrame, spark: pd.DataFrame, what: str) -> None:
    """Same columns, same rows in the same order; integers and text exactly, floats to 1e-9."""
    assert list(duck.columns) == list(spark.columns), what
    assert len(duck) == len(spark), (what, len(duck), len(spark))
    for col in duck.columns:
        a, b = duck[col], spark[col]
        if pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b):
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            same = np.isclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True)
        elif pd.api.types.is_datetime64_any_dtype(a):
            same = (pd.to_datetime(a) == pd.to_datetime(b)).to_numpy() | (a.isna() & b.isna())
        else:
            same = (a.astype(str).to_numpy() == b.astype(str).to_numpy()) | (
                a.isna().to_numpy() & b.isna().to_numpy()
            )
        assert same.all(), (what, col, duck.loc[~same, col].head(), spark.loc[~same, col].head())


@pytest.fixture(scope="module")
def spark_con():
    params = load_params("ci", SPARK)
    con = engine.connect(params.engine)
    yield con
    con.disconnect()


def test_spark_tables_equal_duckdbs(ci_book: ProjectPaths, spark_con, tmp_path: Path) -> None:
    """Spark reads the log as a cluster keeps it: a canonical dataset partitioned by date,
    at a URL, read in place (no local ingest)."""
    params = load_params("ci")
    folder = partitioned(pq.read_table(ci_book.events_path), tmp_path / "events")
    in_place = load_params("ci", [*SPARK, f"data.source=file://{folder}", "data.canonical=true"])
    here = ProjectPaths(data_dir=tmp_path / "data")
    described = canonical.describe(in_place, here, spark_con)
    ingested = QualityReport.from_json(ci_book.quality_path)
    for key in ("rows_kept", "users", "sessions", "study_start", "study_end", "first_event"):
        assert getattr(described, key) == getattr(ingested, key), key
    duck = engine.connect(EngineParams(threads=2))
    logs = {
        "duckdb": engine.read_events(duck, ci_book.events_path),
        "pyspark": engine.read_events(spark_con, here.events_ref_path),
    }
    gap = params.sessions.gap_minutes
    # the modelling table: the book's own (written by DuckDB) against Spark's
    timeline = Timeline.from_json(ci_book.timeline_path)
    roles = [r for r in timeline.roles if r != "embargo"]
    book = pd.read_parquet(ci_book.dataset_path)
    spark_table = dataset.build_table(
        spark_con, logs["pyspark"], timeline.scored, roles, params, timeline.observed_end
    )
    assert len(book) > 1000
    assert_same_frame(book, spark_table, "modelling table")
    # the daily sequences beside it
    days = params.features.sequence_days
    spark_days = spark_con.execute(
        daily_activity(logs["pyspark"], timeline.scored, days, gap).order_by(
            ["anchor", "user_id", "day_index"]
        )
    )
    book_days = read_sequences(ci_book.sequences_path, days).activity
    assert len(book_days) > 1000
    assert_same_frame(book_days, spark_days, "daily sequences")

    out: dict[str, dict[str, pd.DataFrame]] = {}
    for name, events in logs.items():
        con = duck if name == "duckdb" else spark_con
        steps, drop = engine.stage(con, journeys.session_steps(events, gap), "steps")
        edges = journeys.dfg(steps).sort_values(["source", "target"]).reset_index(drop=True)
        cohorts = eda.cohort_retention(events)
        out[name] = {
            "directly-follows counts": edges,
            "variants": journeys.variants(steps, 10).reset_index(drop=True),
            "daily series": seasonality.daily_series(events, gap).reset_index(),
            "cohort matrix": cohorts.reset_index(),
            "cohort sizes": cohorts.attrs["sizes"].reset_index(),
        }
        drop()
    # the segments chapter's scan: each segment's most visited categories before the anchor
    score = timeline.score_anchor
    members = book.loc[book["anchor"] == score, ["user_id"]].astype({"user_id": str})
    members["segment"] = np.where(np.arange(len(members)) % 3 == 0, "a", "b")
    start = score - dt.timedelta(days=params.features.profile_window_days)
    for name, events in logs.items():
        con = duck if name == "duckdb" else spark_con
        tops = segments.top_categories(con, events, members, start, score)
        out[name]["top categories"] = tops.sort_index().reset_index()
    duck.disconnect()
    for what, frame in out["duckdb"].items():
        assert len(frame) >= 2, what
        assert_same_frame(frame, out["pyspark"][what], what)
    assert out["duckdb"]["directly-follows counts"]["count"].sum() > 1000


def glued(paths: ProjectPaths) -> dict[str, object]:
    """Every glued value of a book, keyed by chapter file and name."""
    out = {}
    for path in sorted((paths.outputs_dir / "glued").glob("*.json")):
        for key, value in json.loads(path.read_text()).items():
            out[f"{path.stem}:{key}"] = value
    return out


# the CI book's chapters that scan the log; the later ones read only what these hand them
# (and the reproducibility test shows that the same inputs give the same book)
ENGINE_CHAPTERS = ["01_data", "02_explore", "03_seasonality", "04_journeys", "05_features"]


def test_the_ci_books_scans_on_spark_glue_the_same_numbers_and_tables(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    paths = run_ci(tmp_path, *SPARK, only=ENGINE_CHAPTERS)
    # the CI book only now: another process may be building it meanwhile
    ci_book = request.getfixturevalue("ci_book")
    want = {k: v for k, v in glued(ci_book).items() if k.split(":")[0] in ENGINE_CHAPTERS}
    got = glued(paths)
    assert len(want) > 100
    assert sorted(want) == sorted(got)
    differ = [k for k in want if want[k] != got[k]]
    assert not differ, {k: (want[k], got[k]) for k in differ[:10]}
    # what the later chapters read of these: the same rows, values and types
    handed = sorted(paths.processed_dir.glob("*.parquet"))
    assert {p.name for p in handed} >= {"dataset.parquet", "sequences.parquet"}
    for path in handed:
        theirs = pd.read_parquet(ci_book.processed_dir / path.name)
        pd.testing.assert_frame_equal(pd.read_parquet(path), theirs, check_exact=True)
    for path in sorted(paths.processed_dir.glob("*.json")):
        assert json.loads(path.read_text()) == json.loads(
            (ci_book.processed_dir / path.name).read_text()
        ), path.name
    profile = json.loads(paths.run_profile_path.read_text())
    assert profile["engine"]["backend"] == "pyspark"

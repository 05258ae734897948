"""The engine's backend-specific functions: each form gives the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoplog.config.params import EngineParams, SparkParams
from shoplog.events import engine


@pytest.fixture(scope="module")
def con():
    con = engine.connect(EngineParams(threads=1))
    yield con
    con.disconnect()


def _asof_inputs(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Anchors per user, and running totals per user and hour: some users without any,
    some hours equal to an anchor (the match is strict), several per user."""
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2020-01-01")
    keys = pd.DataFrame(
        [
            {"user_id": u, "anchor": base + pd.Timedelta(days=int(d))}
            for u in range(12)
            for d in rng.choice(40, size=rng.integers(1, 5), replace=False)
        ]
    )
    hours = pd.DataFrame(
        [
            {"user_id": u, "hour": base + pd.Timedelta(hours=int(h))}
            for u in range(10)  # users 10 and 11 have no rows: missing values
            for h in rng.choice(40 * 24, size=rng.integers(1, 30), replace=False)
        ]
    )
    # a row at an anchor's very hour, which that anchor must not see
    tie = pd.DataFrame({"user_id": [keys.user_id[0]], "hour": [keys.anchor[0]]})
    hours = pd.concat([hours, tie]).drop_duplicates(["user_id", "hour"])
    hours["hour"] = hours["hour"].astype("datetime64[us]")
    keys["anchor"] = keys["anchor"].astype("datetime64[us]")
    hours = hours.sort_values(["user_id", "hour"]).reset_index(drop=True)
    hours["cum_events"] = hours.groupby("user_id").cumcount() + 1
    hours["last_event"] = hours["hour"] + pd.Timedelta(minutes=7)
    return keys, hours


def _expected(keys: pd.DataFrame, hours: pd.DataFrame) -> pd.DataFrame:
    """The as-of join by pandas: the last row strictly before each anchor."""
    rows = []
    for k in keys.itertuples():
        earlier = hours[(hours.user_id == k.user_id) & (hours.hour < k.anchor)]
        last = earlier.iloc[-1] if len(earlier) else None
        rows.append(
            {
                "user_id": k.user_id,
                "anchor": k.anchor,
                "hour": last["hour"] if last is not None else pd.NaT,
                "cum_events": last["cum_events"] if last is not None else np.nan,
                "last_event": last["last_event"] if last is not None else pd.NaT,
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_asof_forms_agree_with_each_other_and_with_pandas(con, seed: int) -> None:
    keys, hours = _asof_inputs(seed)
    left = con.create_table("asof_keys", keys, temp=True, overwrite=True)
    right = con.create_table("asof_hours", hours, temp=True, overwrite=True)
    order = ["user_id", "anchor"]
    native = con.execute(engine.asof_before(left, right, "anchor", "hour", "user_id"))
    portable = con.execute(engine.asof_before_portable(left, right, "anchor", "hour", "user_id"))
    assert (
        list(native.columns)
        == list(portable.columns)
        == [*keys.columns, "hour", "cum_events", "last_event"]
    )
    native = native.sort_values(order).reset_index(drop=True)
    portable = portable.sort_values(order).reset_index(drop=True)
    pd.testing.assert_frame_equal(native, portable)
    want = _expected(keys, hours).sort_values(order).reset_index(drop=True)
    assert native["hour"].isna().sum() == want["hour"].isna().sum() > 0
    for col in ("hour", "last_event"):
        assert list(pd.to_datetime(native[col])) == list(pd.to_datetime(want[col]))
    np.testing.assert_array_equal(
        native["cum_events"].to_numpy(float), want["cum_events"].to_numpy(float)
    )


def test_spark_settings_come_from_the_parameters() -> None:
    settings = EngineParams(
        backend="pyspark",
        temp_directory=None,
        spark=SparkParams(master="local[3]", executor_memory="2g", conf={"spark.x": "1"}),
    )
    conf = engine.spark_conf(settings)
    assert conf["spark.master"] == "local[3]"
    assert conf["spark.sql.shuffle.partitions"] == "6"  # twice the local cores
    assert conf["spark.executor.memory"] == "2g"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.x"] == "1"
    cluster = engine.spark_conf(
        EngineParams(backend="pyspark", spark=SparkParams(master="yarn", shuffle_partitions=400))
    )
    assert cluster["spark.sql.shuffle.partitions"] == "400"
    assert "spark.sql.shuffle.partitions" not in engine.spark_conf(
        EngineParams(backend="pyspark", spark=SparkParams(master="spark://h:7077"))
    )


def test_spark_without_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    reason = engine.spark_unavailable()
    assert reason is not None and "Java" in reason and "default-jre-headless" in reason
    with pytest.raises(RuntimeError, match=r"engine\.backend is pyspark but no Java runtime"):
        engine.connect(EngineParams(backend="pyspark"))

"""The engine's backend-specific functions: each form gives the same rows."""

from __future__ import annotations

import pytest

from shoplog.config.params import EngineParams, SparkParams
from shoplog.events import engine


@pytest.fixture(scope="module")
def con():
    con = engine.connect(EngineParams(threads=1))
    yield con
    con.disconnect()


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

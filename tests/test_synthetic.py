"""The embedded synthetic shop: deterministic, well-formed, and shaped like a real shop."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from shoplog.events.synthetic import PRESETS, RAW_SCHEMA, describe_generation, generate_events


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("syn") / "tiny.parquet"
    generate_events(path, "tiny", seed=7)
    return path


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    """The single row of a query (DuckDB 2 relations have no fetchone)."""
    return con.sql(sql).fetchall()[0]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_identical_bytes(tiny: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.parquet"
    generate_events(again, "tiny", seed=7)
    assert _sha(again) == _sha(tiny)


def test_other_seed_gives_other_log(tiny: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.parquet"
    generate_events(other, "tiny", seed=8)
    assert _sha(other) != _sha(tiny)


def test_chunking_does_not_change_the_users_made(tmp_path: Path) -> None:
    # users are made in fixed chunks from child seeds: a run of more users extends, not reshuffles
    small, large = tmp_path / "s.parquet", tmp_path / "l.parquet"
    generate_events(small, "tiny", seed=3, n_users=1000, chunk_users=500)
    generate_events(large, "tiny", seed=3, n_users=1500, chunk_users=500)
    con = duckdb.connect()
    first = con.sql(f"SELECT * FROM '{small}' ORDER BY ALL").fetchall()
    second = con.sql(f"SELECT * FROM '{large}' WHERE user_id < 512001000 ORDER BY ALL").fetchall()
    assert first == second


def test_schema_and_shape(tiny: Path) -> None:
    table = pq.read_table(tiny)
    assert table.schema.equals(RAW_SCHEMA)
    spec = PRESETS["tiny"]
    con = duckdb.connect()
    users, types, lo, price_min = _one(
        con,
        f"SELECT count(DISTINCT user_id), list(DISTINCT event_type ORDER BY event_type), "
        f"min(event_time), min(price) FROM '{tiny}'",
    )
    # existing customers whose visits all fall before the window never show up
    assert 0.7 * spec.n_users < users < spec.n_users
    assert types == ["cart", "purchase", "remove_from_cart", "view"]
    assert lo.date() >= spec.start
    assert price_min > 0
    # 19-digit category ids, as in REES46
    assert _one(con, f"SELECT min(length(category_id::VARCHAR)) FROM '{tiny}'")[0] == 19


def test_funnel_order_within_sessions(tiny: Path) -> None:
    con = duckdb.connect()
    con.sql(f"CREATE VIEW e AS SELECT DISTINCT * FROM '{tiny}'")
    # every cart follows a view of the same product in the same session
    orphan_carts = _one(
        con,
        """SELECT count(*) FROM e c WHERE c.event_type = 'cart' AND NOT EXISTS (
             SELECT 1 FROM e v WHERE v.event_type = 'view' AND v.user_session = c.user_session
               AND v.product_id = c.product_id AND v.event_time <= c.event_time)""",
    )[0]
    # every purchase and removal follows a cart of the same product in the same session
    orphan_after_cart = _one(
        con,
        """SELECT count(*) FROM e p WHERE p.event_type IN ('purchase', 'remove_from_cart')
             AND NOT EXISTS (
             SELECT 1 FROM e c WHERE c.event_type = 'cart' AND c.user_session = p.user_session
               AND c.product_id = p.product_id AND c.event_time <= p.event_time)""",
    )[0]
    assert orphan_carts == 0
    assert orphan_after_cart == 0


def test_promotion_spike(tiny: Path) -> None:
    con = duckdb.connect()
    daily = (
        con.sql(f"SELECT event_time::DATE d, count(*) n FROM '{tiny}' GROUP BY 1")
        .df()
        .set_index("d")["n"]
    )
    promo = PRESETS["tiny"].promotions[0].day
    daily.index = pd.to_datetime(daily.index)
    assert daily.loc[pd.Timestamp(promo)] > 2 * daily.median()
    assert daily.idxmax() == pd.Timestamp(promo)


def test_heavy_tail_and_mess(tiny: Path) -> None:
    con = duckdb.connect()
    median, top = _one(
        con, f"SELECT median(n), max(n) FROM (SELECT user_id, count(*) n FROM '{tiny}' GROUP BY 1)"
    )
    assert top > 20 * median  # a few very active users
    blank_code, blank_brand, dups = _one(
        con,
        f"""SELECT avg((category_code = '')::INT), avg((brand = '')::INT),
                   count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM '{tiny}'))
            FROM '{tiny}'""",
    )
    assert 0.05 < blank_code < 0.6
    assert 0.02 < blank_brand < 0.4
    assert dups > 0


def test_engagement_fades_before_lapse(tmp_path: Path) -> None:
    """Users' last sessions are shorter and buy less than their first ones: churn is predictable."""
    path = tmp_path / "t.parquet"
    generate_events(path, "tiny", seed=11, n_users=6000)
    con = duckdb.connect()
    first, last = _one(
        con,
        f"""WITH s AS (
              SELECT user_id, user_session, min(event_time) t, count(*) n
              FROM '{path}' GROUP BY 1, 2),
            r AS (SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY t) k,
                         count(*) OVER (PARTITION BY user_id) m FROM s)
            SELECT avg(n) FILTER (WHERE k = 1), avg(n) FILTER (WHERE k = m)
            FROM r WHERE m >= 4 AND t < TIMESTAMP '2019-12-15'""",
    )
    assert last < 0.85 * first


def test_description_says_synthetic() -> None:
    text = describe_generation("tiny", 7)
    assert "synthetic" in text
    assert f"{PRESETS['tiny'].n_users:,} users" in text
    assert "2019-11-29" in text


def test_unknown_preset(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown synthetic preset 'huge'"):
        generate_events(tmp_path / "x.parquet", "huge")

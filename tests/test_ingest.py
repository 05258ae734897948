"""Ingestion: real REES46 quirks, column mappings, clear errors, drops counted by reason."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from xlsx import write_xlsx

from shoplog.config.params import Params, validate_params
from shoplog.config.paths import ProjectPaths
from shoplog.events.ingest import IngestError, QualityReport, ingest, quality_facts


def make_params(
    source: Path | str, start: str = "2019-10-01", end: str = "2019-11-01", **mapping: Any
) -> Params:
    return validate_params(
        {
            "profile": "test",
            "data": {"source": str(source), "mapping": mapping},
            "study": {"start_date": start, "end_date": end},
            "engine": {"memory_limit": "1GB", "threads": 1},
        }
    )


def events_of(paths: ProjectPaths) -> pd.DataFrame:
    return pd.read_parquet(paths.events_path)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the real REES46 sample ----------------------------------------------------


def test_rees46_sample(rees46_csv: Path, tmp_paths: ProjectPaths) -> None:
    before = sha(rees46_csv)
    report = ingest(make_params(rees46_csv, end="2019-10-02"), tmp_paths)
    assert sha(rees46_csv) == before, "the raw file must never be modified"
    # 17,434 complete rows plus the truncated last line (line 17436 of the file)
    assert report.rows_read == 17_435
    assert report.drops["malformed_line"] == 1
    assert report.malformed_examples[0]["line"] == 17_436
    assert "Expected Number of Columns: 9 Found: 8" in report.malformed_examples[0]["error"]
    # five rows are exact repeats of another row (a view logged 4 times in one second, ...)
    assert report.drops["duplicate_row"] == 5
    assert report.rows_kept == 17_434 - 5
    assert report.users == 4_504
    report.check_balance()

    ev = events_of(tmp_paths)
    assert len(ev) == report.rows_kept
    assert ev["event_type"].value_counts().to_dict() == {
        "view": 17_051,
        "purchase": 214,
        "cart": 164,
    }
    assert ev["event_time"].min() == pd.Timestamp("2019-10-01 00:00:00")
    assert ev["event_time"].max() == pd.Timestamp("2019-10-01 02:50:00")
    # 19-digit category ids stay exact; empty strings became missing values
    assert "2053013555631882655" in set(ev["category_id"])
    assert ev["category_code"].isna().sum() > 5_000
    assert not (ev["brand"] == "").any()
    assert ev["user_session"].nunique() == 5_066
    assert not report.sessions_derived


def test_rees46_keep_duplicates(rees46_csv: Path, tmp_paths: ProjectPaths) -> None:
    report = ingest(make_params(rees46_csv, end="2019-10-02", duplicates="keep"), tmp_paths)
    assert report.rows_kept == 17_434
    assert report.drops["duplicate_row"] == 0


def test_rees46_gzip_gives_same_log(rees46_csv: Path, tmp_path: Path) -> None:
    gz = tmp_path / "log.csv.gz"
    gz.write_bytes(gzip.compress(rees46_csv.read_bytes()))
    a = ProjectPaths(data_dir=tmp_path / "a")
    b = ProjectPaths(data_dir=tmp_path / "b")
    ingest(make_params(rees46_csv, end="2019-10-02"), a)
    ingest(make_params(gz, end="2019-10-02"), b)
    pd.testing.assert_frame_equal(events_of(a), events_of(b))


# ---- determinism ---------------------------------------------------------------


def test_same_seed_same_processed_log(ci_params: Params, tmp_path: Path) -> None:
    a = ProjectPaths(data_dir=tmp_path / "a")
    b = ProjectPaths(data_dir=tmp_path / "b")
    ra, rb = ingest(ci_params, a), ingest(ci_params, b)
    assert sha(a.events_path) == sha(b.events_path)
    assert ra == rb
    assert ra.drops["duplicate_row"] > 0  # the generator's duplicates are found


# ---- errors ----------------------------------------------------------------------

HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
)
ROW = "2019-10-01 10:00:00 UTC,view,1,2,a.b,x,9.5,u1,s1"


def write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "mapping", "pattern"),
    [
        ("", {}, r"log\.csv: the file is empty"),
        (HEADER + "\n", {}, r"log\.csv: no data rows"),
        (
            "event_time,event_type,product_id\n2019-10-01 10:00:00,view,1\n",
            {},
            r"log\.csv: required column\(s\) \['user_id'\] not found.*data\.mapping\.columns",
        ),
        (
            HEADER + "\n" + ROW + "\n" + ROW.replace("2019-10-01 10:00:00 UTC", "01/10/2019 10h"),
            {},
            r"column 'event_time': 1 value\(s\) could not be read as times.*'01/10/2019 10h'"
            r".*time_format",
        ),
        (
            HEADER + "\n" + ROW + "\n" + ROW.replace(",view,", ",wishlist,"),
            {},
            r"column 'event_type' has event names that are not mapped: 'wishlist' \(1 rows\)"
            r".*data\.mapping\.event_types",
        ),
        (
            HEADER + "\n" + ROW.replace(",9.5,", ",-3.0,"),
            {},
            r"column 'price': 1 negative price\(s\)",
        ),
        (
            HEADER + "\n" + ROW.replace(",9.5,", ",abc,"),
            {},
            r"column 'price': 1 value\(s\) are not numbers.*'abc'",
        ),
        (
            HEADER + "\n" + ROW + "\n" + ROW.replace(",u1,", ",,"),
            {},
            r"column 'user_id': 1 row\(s\) have no user_id.*drop_incomplete_rows",
        ),
        (
            HEADER + "\n" + ROW,
            {"columns": {"user_id": "visitor"}},
            r"column 'visitor' \(mapped to user_id\) is not in the file",
        ),
        (
            "ts,uid,ev\n1570000000,u1,view\n",
            {"columns": {"event_time": "ts", "user_id": "uid", "event_type": "ev"}},
            None,  # numbers without time_unit: the mapping error below
        ),
    ],
)
def test_errors_name_file_column_and_fix(
    tmp_path: Path, text: str, mapping: dict[str, Any], pattern: str | None
) -> None:
    src = write(tmp_path, text)
    if pattern is None:
        # CSV is read as text, so epoch numbers without a unit fail as unparseable times
        pattern = r"column 'ts'.*could not be read as times.*time_unit"
    with pytest.raises(IngestError, match=pattern):
        ingest(make_params(src, **mapping), ProjectPaths(data_dir=tmp_path / "d"))
    assert not (tmp_path / "d" / "processed" / "events.parquet").exists()


def test_missing_file_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"no such file. Set data.source"):
        ingest(make_params(tmp_path / "nope.csv"), ProjectPaths(data_dir=tmp_path / "d"))


def test_numeric_parquet_times_need_a_unit(tmp_path: Path) -> None:
    src = tmp_path / "log.parquet"
    pd.DataFrame({"event_time": [1570000000], "event_type": ["view"], "user_id": ["u"]}).to_parquet(
        src
    )
    with pytest.raises(IngestError, match=r"holds numbers, not times.*time_unit"):
        ingest(make_params(src), ProjectPaths(data_dir=tmp_path / "d"))


def test_no_events_in_window(tmp_path: Path) -> None:
    src = write(tmp_path, HEADER + "\n" + ROW + "\n")
    with pytest.raises(
        IngestError, match=r"no events left in the study window.*after_study_window"
    ):
        ingest(
            make_params(src, start="2019-09-01", end="2019-09-30"),
            ProjectPaths(data_dir=tmp_path / "d"),
        )


# ---- drops counted by reason -------------------------------------------------------


def test_drops_counted_by_reason(tmp_path: Path) -> None:
    rows = [
        ROW,
        ROW,  # duplicate
        ROW.replace("2019-10-01", "2019-09-30"),  # before window
        ROW.replace("2019-10-01", "2019-11-01"),  # after window (end excluded)
        ROW.replace(",view,", ",fav,"),  # mapped to drop
        ROW.replace(",u1,", ",,"),  # incomplete, dropped on request
        ROW.replace(",u1,", ",NA,").replace("10:00", "10:01"),  # 'NA' is no user: incomplete
        ROW.replace(",9.5,", ",nan,").replace("10:00", "10:02"),  # not a price
        ROW.replace(",9.5,", ",inf,").replace("10:00", "10:03"),
        ROW.replace(",s1", ",s1,extra"),  # malformed: 10 fields
        "2019-10-01 10:05:00 UTC,view",  # malformed once, though 7 columns are missing
        ROW.replace("10:00:00", "11:00:00"),
    ]
    src = write(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n")
    paths = ProjectPaths(data_dir=tmp_path / "d")
    report = ingest(make_params(src, event_types={"fav": "drop"}, drop_incomplete_rows=True), paths)
    assert report.rows_read == 12
    assert report.drops == {
        "malformed_line": 2,
        "event_type_dropped": 1,
        "incomplete_row": 2,
        "invalid_price": 2,
        "before_study_window": 1,
        "after_study_window": 1,
        "duplicate_row": 1,
        "return_line": 0,
        "cancelled_purchase": 0,
    }
    assert report.rows_kept == 2
    assert QualityReport.from_json(paths.quality_path) == report


# ---- mappings ------------------------------------------------------------------------


def test_headerless_unix_seconds_with_codes_and_derived_sessions(tmp_path: Path) -> None:
    t0 = 1_569_924_000  # 2019-10-01 10:00:00 UTC
    lines = [
        f"u1,{t0},pv,10",
        f"u1,{t0 + 60},cart,10",
        f"u1,{t0 + 120},buy,10",
        f"u1,{t0 + 120 + 29 * 60},pv,11",  # 29 min later: same session
        f"u1,{t0 + 120 + 29 * 60 + 31 * 60},pv,12",  # 31 min later: new session
        f"u2,{t0},fav,10",  # dropped by mapping
        f"u2,{t0 + 5},pv,10",
    ]
    src = write(tmp_path, "\n".join(lines) + "\n", "ub.csv")
    paths = ProjectPaths(data_dir=tmp_path / "d")
    report = ingest(
        make_params(
            src,
            header=False,
            names=["uid", "ts", "behavior", "item"],
            columns={
                "user_id": "uid",
                "event_time": "ts",
                "event_type": "behavior",
                "product_id": "item",
            },
            time_unit="s",
            event_types={"pv": "view", "buy": "purchase", "fav": "drop"},
        ),
        paths,
    )
    assert report.sessions_derived and report.drops["event_type_dropped"] == 1
    ev = events_of(paths).sort_values(["user_id", "event_time"])
    assert ev["event_time"].iloc[0] == pd.Timestamp("2019-10-01 10:00:00")
    assert list(ev["event_type"]) == ["view", "cart", "purchase", "view", "view", "view"]
    assert list(ev["user_session"]) == ["u1-1"] * 4 + ["u1-2", "u2-1"]
    assert ev["price"].isna().all() and ev["brand"].isna().all()
    assert report.sessions == 3


def test_epoch_milliseconds(tmp_path: Path) -> None:
    src = write(tmp_path, "ts,uid,ev\n1569924000123,u1,view\n")
    paths = ProjectPaths(data_dir=tmp_path / "d")
    ingest(
        make_params(
            src, columns={"event_time": "ts", "user_id": "uid", "event_type": "ev"}, time_unit="ms"
        ),
        paths,
    )
    assert events_of(paths)["event_time"].iloc[0] == pd.Timestamp("2019-10-01 10:00:00.123")


def test_time_format_timezone_and_numeric_event_codes(tmp_path: Path) -> None:
    src = write(
        tmp_path,
        "when;who;what\n01/10/2019 12:00;7;1\n01/10/2019 12:30;7;2\n01/10/2019 12:40;7;4\n",
    )
    paths = ProjectPaths(data_dir=tmp_path / "d")
    ingest(
        make_params(
            src,
            delimiter=";",
            time_format="%d/%m/%Y %H:%M",
            timezone="Europe/Berlin",
            columns={"event_time": "when", "user_id": "who", "event_type": "what"},
            event_types={"1": "view", "2": "cart", "3": "remove_from_cart", "4": "purchase"},
        ),
        paths,
    )
    ev = events_of(paths)
    # 12:00 in Berlin (CEST, UTC+2) is 10:00 UTC
    assert ev["event_time"].min() == pd.Timestamp("2019-10-01 10:00:00")
    assert list(ev["event_type"]) == ["view", "cart", "purchase"]
    assert ev["user_id"].iloc[0] == "7"


def test_iso_times_with_offsets(tmp_path: Path) -> None:
    src = write(
        tmp_path,
        "event_time,event_type,user_id\n2019-10-01T12:00:00+02:00,view,a\n2019-10-01T10:30:00Z,cart,a\n",
    )
    paths = ProjectPaths(data_dir=tmp_path / "d")
    ingest(make_params(src), paths)
    assert list(events_of(paths)["event_time"]) == [
        pd.Timestamp("2019-10-01 10:00:00"),
        pd.Timestamp("2019-10-01 10:30:00"),
    ]


def test_purchase_only_log_with_constant_event_type(tmp_path: Path) -> None:
    src = write(tmp_path, "customer,date,amount\n1,20191003,12.5\n1,20191020,3\n2,20191005,7\n")
    paths = ProjectPaths(data_dir=tmp_path / "d")
    report = ingest(
        make_params(
            src,
            columns={"user_id": "customer", "event_time": "date", "price": "amount"},
            time_format="%Y%m%d",
            event_type="purchase",
        ),
        paths,
    )
    ev = events_of(paths)
    assert set(ev["event_type"]) == {"purchase"}
    assert ev["price"].sum() == pytest.approx(22.5)
    assert report.sessions_derived and report.sessions == 3


def test_whitespace_aligned_purchase_log_like_cdnow(tmp_path: Path) -> None:
    # CDNOW's layout: a header, columns aligned with runs of spaces, CRLF line ends,
    # and two orders of one customer on one day (kept: they are separate orders)
    text = (
        " customer_id  date number_of_cds  dollar_value\r\n"
        " 00001 19971001  1   11.77\r\n"
        " 00002 19971012  1   12.00\r\n"
        " 00002 19971012  5   77.00\r\n"
        "\r\n"
        " 00003 19971002  2\r\n"
        "\t00003\t19971020   2   20.76\r\n"
    )
    src = tmp_path / "cdnow.txt"
    src.write_bytes(text.encode())
    before = sha(src)
    paths = ProjectPaths(data_dir=tmp_path / "d")
    params = make_params(
        src,
        "1997-10-01",
        "1997-11-01",
        delimiter="whitespace",
        columns={"user_id": "customer_id", "event_time": "date", "price": "dollar_value"},
        time_format="%Y%m%d",
        event_type="purchase",
        duplicates="keep",
    )
    report = ingest(params, paths)
    ev = events_of(paths).sort_values(["user_id", "event_time", "price"])
    assert ev["user_id"].tolist() == ["00001", "00002", "00002", "00003"]  # ids keep their zeros
    assert ev["price"].tolist() == pytest.approx([11.77, 12.0, 77.0, 20.76])
    assert report.rows_read == 5 and report.drops["malformed_line"] == 1
    assert sum(report.drops.values()) == 1
    assert "expected 4 fields" in str(report.malformed_examples)
    assert sha(src) == before
    # a headerless aligned file takes its column names from the mapping
    (tmp_path / "bare.txt").write_text(" 7 19971003 9.5\n 8 19971004 1.25\n")
    params = make_params(
        tmp_path / "bare.txt",
        "1997-10-01",
        "1997-11-01",
        delimiter="whitespace",
        header=False,
        names=["who", "day", "amount"],
        columns={"user_id": "who", "event_time": "day", "price": "amount"},
        time_format="%Y%m%d",
        event_type="purchase",
    )
    ingest(params, ProjectPaths(data_dir=tmp_path / "e"))
    assert pd.read_parquet(tmp_path / "e" / "processed" / "events.parquet")["price"].sum() == 10.75


def test_parquet_with_timezone_aware_times(tmp_path: Path) -> None:
    src = tmp_path / "log.parquet"
    pd.DataFrame(
        {
            "event_time": pd.to_datetime(["2019-10-01 12:00"]).tz_localize("Europe/Berlin"),
            "event_type": ["view"],
            "user_id": [5],
            "price": [1.0],
        }
    ).to_parquet(src)
    paths = ProjectPaths(data_dir=tmp_path / "d")
    ingest(make_params(src), paths)
    ev = events_of(paths)
    assert ev["event_time"].iloc[0] == pd.Timestamp("2019-10-01 10:00:00")
    assert ev["user_id"].iloc[0] == "5"


def test_processed_log_schema(ci_params: Params, tmp_paths: ProjectPaths) -> None:
    ingest(ci_params, tmp_paths)
    schema = duckdb.sql(f"DESCRIBE SELECT * FROM '{tmp_paths.events_path}'").fetchall()
    assert [(r[0], r[1]) for r in schema] == [
        ("event_time", "TIMESTAMP"),
        ("event_type", "VARCHAR"),
        ("product_id", "VARCHAR"),
        ("category_id", "VARCHAR"),
        ("category_code", "VARCHAR"),
        ("brand", "VARCHAR"),
        ("price", "DOUBLE"),
        ("user_id", "VARCHAR"),
        ("user_session", "VARCHAR"),
    ]


def test_quality_table_adds_up(rees46_csv: Path, tmp_paths: ProjectPaths) -> None:
    from shoplog.events.ingest import quality_table

    report = ingest(make_params(rees46_csv, end="2019-10-02"), tmp_paths)
    table = quality_table(report).set_index("Step")["Rows"]
    dropped = table[table.index.str.startswith("Dropped")]
    assert table["Rows read"] - dropped.sum() == table["Rows kept"] == 17_429
    assert table["Dropped: Malformed line (wrong number of fields, broken quoting)"] == 1


# ---- times, ids, encodings and lines as written in real exports ---------------------


def _one_log(tmp_path: Path, lines: list[str], header: str = "event_time,event_type,user_id,price",
             name: str = "log.csv", encoding: str = "utf-8") -> Path:  # fmt: skip
    path = tmp_path / name
    path.write_bytes(("\n".join([header, *lines]) + "\n").encode(encoding))
    return path


def _stored(tmp_path: Path, src: Path, **mapping: Any) -> tuple[pd.DataFrame, QualityReport]:
    paths = ProjectPaths(data_dir=tmp_path / "d")
    report = ingest(make_params(src, **mapping), paths)
    events = pd.read_parquet(paths.events_path).sort_values("user_id", ignore_index=True)
    return events, report


def test_offsets_and_utc_markers_are_honoured_with_a_local_zone(tmp_path: Path) -> None:
    src = _one_log(
        tmp_path,
        [
            "2019-10-01 12:00:00+02,view,a,1",  # two-digit offset
            "2019-10-01 12:00:00-05:30,view,b,1",
            "2019-10-01T12:00:00Z,view,c,1",  # marked UTC: not shifted as local
            "2019-10-01 12:00:00 UTC,view,d,1",
            "2019-10-01 12:00:00,view,e,1",  # naive: read in the mapping's zone (UTC+2)
        ],
    )
    events, report = _stored(tmp_path, src, timezone="Europe/Berlin")
    stored = dict(zip(events["user_id"], events["event_time"].astype(str), strict=True))
    assert stored == {
        "a": "2019-10-01 10:00:00",
        "b": "2019-10-01 17:30:00",
        "c": "2019-10-01 12:00:00",
        "d": "2019-10-01 12:00:00",
        "e": "2019-10-01 10:00:00",
    }
    assert report.naive_timezone == "Europe/Berlin" and report.times_without_zone == 1


@pytest.mark.parametrize(
    ("values", "unit"),
    [(["1569931200", "1569931260"], "s"), (["1569931200000", "1569931260000"], "ms"),
     (["1569931200000000", "1569931260000000"], "us")],
)  # fmt: skip
def test_epoch_unit_is_told_from_the_numbers(tmp_path: Path, values: list[str], unit: str) -> None:
    src = _one_log(tmp_path, [f"{v},view,u{i},1" for i, v in enumerate(values)])
    events, report = _stored(tmp_path, src, time_unit="auto")
    assert list(events["event_time"].astype(str)) == ["2019-10-01 12:00:00", "2019-10-01 12:01:00"]
    assert report.time_unit == unit


def test_a_wrong_epoch_unit_names_the_span_it_implies(tmp_path: Path) -> None:
    src = _one_log(tmp_path, ["1569931200000,view,a,1", "1569931260000,view,b,1"])
    with pytest.raises(
        IngestError, match=r"year 51,7\d\d.*are unix ms: set data.mapping.time_unit: ms"
    ):
        _stored(tmp_path, src, time_unit="s")


def test_missing_value_markers_are_missing_and_anonymous_users_can_be_sessions(
    tmp_path: Path,
) -> None:
    header = "event_time;event_type;user_id;price;user_session"
    lines = [
        "2019-10-01 10:00:00;view;NA;N/A;s1",
        "2019-10-01 10:01:00;view;null;2.5;s1",
        "2019-10-01 10:02:00;view;u7;None;s2",
    ]
    src = _one_log(tmp_path, lines, header=header)
    with pytest.raises(IngestError, match=r"column 'user_id': 2 row\(s\) have no user_id"):
        _stored(tmp_path, src, delimiter=";")
    events, report = _stored(tmp_path, src, delimiter=";", drop_incomplete_rows=True)
    assert list(events["user_id"]) == ["u7"] and events["price"].isna().all()
    assert report.drops["incomplete_row"] == 2
    events, _ = _stored(tmp_path, src, delimiter=";", user_from_session=True)
    assert sorted(events["user_id"]) == ["s1", "s1", "u7"]
    assert sorted(events.loc[events["user_id"] == "s1", "price"].fillna(-1)) == [-1.0, 2.5]


def test_duplicates_are_judged_on_the_whole_source_row(tmp_path: Path) -> None:
    header = "event_time,event_type,user_id,price,page"
    lines = [
        "2019-10-01 10:00:00,view,a,1,home",
        "2019-10-01 10:00:00,view,a,1,home",  # the same row twice: double-fired
        "2019-10-01 10:00:00,view,a,1,search",  # differs in an unmapped column: a real view
    ]
    src = _one_log(tmp_path, lines, header=header)
    events, report = _stored(tmp_path, src)
    assert len(events) == 2 and report.drops["duplicate_row"] == 1
    assert report.duplicates_mapped_kept == 1
    events, report = _stored(tmp_path, src, duplicates="drop_mapped")
    assert len(events) == 1 and report.drops["duplicate_row"] == 2


def test_float_ids_keep_their_digits_and_inexact_ones_are_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "event_time": pd.to_datetime(["2019-10-01 10:00", "2019-10-01 11:00"] * 2),
            "event_type": "view",
            "user_id": [1.0, 1.25, 1.75, 12.0],  # 1.25 and 1.75 are two users
        }
    )
    src = tmp_path / "log.parquet"
    frame.to_parquet(src)
    events, report = _stored(tmp_path, src)
    assert sorted(events["user_id"]) == ["1", "1.25", "1.75", "12"] and report.users == 4
    frame["user_id"] = [512345678901234567.0, 2.0, 3.0, 4.0]
    frame.to_parquet(src)
    with pytest.raises(IngestError, match=r"'user_id'.*beyond 2\^53.*Export the column as text"):
        _stored(tmp_path, src)


def test_encoding_problems_stop_with_the_setting_to_change(tmp_path: Path) -> None:
    src = _one_log(
        tmp_path,
        ["2019-10-01 10:00:00,view,José,1", "2019-10-01 10:01:00,view,Zoë,1"],
        encoding="latin-1",
    )
    with pytest.raises(IngestError, match=r"2 line\(s\) are not valid utf-8.*mapping.encoding"):
        _stored(tmp_path, src)
    events, report = _stored(tmp_path, src, encoding="latin-1")
    assert sorted(events["user_id"]) == ["José", "Zoë"] and report.rows_kept == 2


def test_repeated_header_names_are_refused_with_the_names(tmp_path: Path) -> None:
    src = _one_log(
        tmp_path, ["2019-10-01 10:00:00,view,a,b"], header="event_time,event_type,user_id,user_id"
    )
    with pytest.raises(IngestError, match=r"names \['user_id'\] more than once"):
        _stored(tmp_path, src)


def test_a_very_long_line_is_read_not_fatal(tmp_path: Path) -> None:
    header = "event_time,event_type,user_id,brand"
    lines = [
        "2019-10-01 10:00:00,view,a,x",
        "2019-10-01 10:01:00,view,b," + "y" * 3_000_000,
        "2019-10-01 10:02:00,view,c,z",
    ]
    events, report = _stored(tmp_path, _one_log(tmp_path, lines, header=header))
    assert report.rows_kept == 3 and events["brand"].str.len().max() == 3_000_000


def test_users_lost_entirely_and_the_time_resolution_are_reported(tmp_path: Path) -> None:
    lines = [
        "2019-10-01,view,a,1",
        "2019-10-02,view,a,1",
        "2019-09-01,view,b,1",  # b's only row is before the window
    ]
    _, report = _stored(tmp_path, _one_log(tmp_path, lines))
    assert report.users == 1 and report.users_lost == 1
    assert report.time_resolution == "day"


def test_quality_facts_say_what_the_log_records(tmp_path: Path) -> None:
    lines = [
        "2019-10-02,view,a,1",  # (the window is in UTC: 2019-10-01 in Berlin starts before)
        "2019-10-03,view,a,1",
        "2019-10-04T00:00:00+02,view,a,1",  # a midnight in Berlin, with its offset
        "2019-09-01,view,b,1",
    ]
    _, report = _stored(tmp_path, _one_log(tmp_path, lines), timezone="Europe/Berlin")
    facts = quality_facts(report)
    # dates are midnights in Berlin (22:00 or 23:00 UTC): the resolution is the local one
    assert report.time_resolution == "day"
    assert facts[0].startswith("The study window, 2019-10-01 to 2019-10-31 (31 days), is set")
    assert facts[1].startswith("Times are recorded to the day only")
    assert facts[2] == (
        "2 of the 3 times in the study window carry no zone and were read as Europe/Berlin "
        "time, converted to UTC (data.mapping.timezone)."
    )
    assert facts[3].startswith("1 user(s) appear only in dropped rows")
    _, report = _stored(tmp_path, _one_log(tmp_path, lines[:2]))
    assert quality_facts(report)[1:] == [
        "Times are recorded to the day only (every event at midnight): the hour of an event "
        "and the order of events within a day are not known.",
        "2 of the 2 times in the study window carry no zone and were read as UTC time "
        "(data.mapping.timezone).",
    ]


def test_an_excel_workbook_is_read_directly_with_its_sheet(tmp_path: Path) -> None:
    src = write_xlsx(
        tmp_path / "retail.xlsx",
        ["when", "what", "customer", "price"],
        [
            [dt.datetime(2019, 10, 1, 8, 26), "purchase", 17850.0, 2.55],
            [dt.datetime(2019, 10, 1, 9, 41), "purchase", 14527.0, None],
        ],
        sheet="Year 2019",
    )
    columns = {"event_time": "when", "event_type": "what", "user_id": "customer"}
    events, report = _stored(tmp_path, src, columns=columns, sheet="Year 2019")
    assert report.source_format == "excel"
    assert list(events["user_id"]) == ["14527", "17850"]  # ids, not 17850.0
    assert list(events["event_time"].astype(str)) == ["2019-10-01 09:41:00", "2019-10-01 08:26:00"]
    with pytest.raises(IngestError, match=r"data.mapping.sheet"):
        _stored(tmp_path, src, columns=columns, sheet="Year 2020")
    # the same workbook under a CSV name is named for what it is
    renamed = src.rename(tmp_path / "retail.csv")
    with pytest.raises(IngestError, match=r"ZIP archive.*not CSV text.*format: excel"):
        _stored(tmp_path, renamed, columns=columns)


def test_cancellations_are_netted_against_the_purchases_they_cancel(tmp_path: Path) -> None:
    header = "invoice,when,customer,sku,qty,unit_price"
    lines = [
        "1,2019-10-01 09:00,a,X,2,5.0",
        "2,2019-10-02 09:00,a,X,2,5.0",  # the latest matching purchase: cancelled below
        "C3,2019-10-03 09:00,a,X,-2,5.0",
        "4,2019-10-04 09:00,a,X,2,5.0",  # after the cancellation: stays
        "C5,2019-10-05 09:00,b,Y,-1,9.0",  # nothing to cancel in the log
        "6,2019-10-05 10:00,b,Y,3,9.0",
    ]
    columns = {"event_time": "when", "user_id": "customer", "product_id": "sku",
               "user_session": "invoice", "price": "unit_price"}  # fmt: skip
    events, report = _stored(
        tmp_path, _one_log(tmp_path, lines, header=header), columns=columns,
        event_type="purchase", quantity="qty",
    )  # fmt: skip
    assert sorted(events["user_session"]) == ["1", "4", "6"]
    assert report.drops["return_line"] == 2 and report.drops["cancelled_purchase"] == 1
    assert any(
        n.startswith("1 cancellation line(s) match no earlier purchase") for n in report.notes
    )
    assert report.rows_read == report.rows_kept + sum(report.drops.values())


def _auto(tmp_path: Path, lines: list[str], **mapping: Any) -> tuple[pd.DataFrame, QualityReport]:
    paths = ProjectPaths(data_dir=tmp_path / "d")
    params = make_params(_one_log(tmp_path, lines), start="auto", end="auto", **mapping)
    report = ingest(params, paths)
    return pd.read_parquet(paths.events_path), report


def _hourly(first: str, days: int, per_day: int = 24) -> list[str]:
    start = dt.datetime.fromisoformat(first)
    step = dt.timedelta(days=1) / per_day
    return [f"{start + i * step},view,u{i % 5},1" for i in range(days * per_day)]


def test_auto_window_sets_aside_a_stray_date_and_cuts_partial_days(tmp_path: Path) -> None:
    lines = [
        "2019-07-19 12:00:00,view,stray,1",  # 74 days before the rest
        *_hourly("2019-10-01 14:00:00", 10),  # starts mid-afternoon, ends mid-afternoon
    ]
    events, report = _auto(tmp_path, lines)
    assert (report.study_start, report.study_end) == ("2019-10-02", "2019-10-11")
    assert report.set_aside == [{"day": "2019-07-19", "rows": 1}]
    assert report.partial_days == [
        {"day": "2019-10-01", "rows": 10},
        {"day": "2019-10-11", "rows": 14},
    ]
    assert report.drops["before_study_window"] == 11 and report.drops["after_study_window"] == 14
    assert events["event_time"].min() == pd.Timestamp("2019-10-02")
    facts = quality_facts(report)
    assert facts[0] == (
        "The study window, 2019-10-02 to 2019-10-10 (9 days), was chosen from the log: its "
        "first to its last full day."
    )
    assert facts[1].startswith("2019-10-01 holds only part of a day (10 rows) and is left out")
    assert facts[3].startswith("1 row(s) on 1 day(s) far from the rest of the log (2019-07-19)")


def test_auto_window_keeps_date_only_days_and_short_logs_whole(tmp_path: Path) -> None:
    # dates only: every event at midnight, no day is partial
    _, report = _auto(
        tmp_path, ["2019-10-01,view,a,1", "2019-10-02,view,a,1", "2019-10-05,view,b,1"]
    )
    assert (report.study_start, report.study_end) == ("2019-10-01", "2019-10-06")
    assert not report.partial_days and not report.set_aside
    # two hours of log: nothing is cut to leave no window at all
    _, report = _auto(tmp_path, _hourly("2019-10-01 14:00:00", 1, per_day=24)[:3])
    assert (report.study_start, report.study_end) == ("2019-10-01", "2019-10-02")
    # an explicit end is kept, 'auto' resolves the start only
    paths = ProjectPaths(data_dir=tmp_path / "e")
    src = _one_log(tmp_path, ["2019-10-01,view,a,1", "2019-10-09,view,a,1"])
    report = ingest(make_params(src, start="auto", end="2019-10-05"), paths)
    assert (report.study_start, report.study_end) == ("2019-10-01", "2019-10-05")


def test_an_empty_window_names_the_logs_own_span(tmp_path: Path) -> None:
    src = _one_log(tmp_path, ["2021-03-01 10:00:00,view,a,1", "2021-03-02 10:00:00,view,a,1"])
    with pytest.raises(
        IngestError, match=r"usable rows run from 2021-03-01 10:00:00 to 2021-03-02"
    ):
        ingest(make_params(src), ProjectPaths(data_dir=tmp_path / "d"))


def test_a_workbook_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    # pandas would rename the second 'user' to 'user.1'; the header as written is checked
    src = write_xlsx(
        tmp_path / "twice.xlsx",
        ["when", "user", "user"],
        [[dt.datetime(2019, 10, 1, 8, 0), "a", "b"]],
    )
    with pytest.raises(IngestError, match=r"names \['user'\] more than once"):
        _stored(tmp_path, src, columns={"event_time": "when", "user_id": "user"},
                event_type="view")  # fmt: skip

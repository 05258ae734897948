"""Every worked mapping of the "Bring your own log" appendix, on logs these tests write."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from shoplog.events import layouts as L


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def by_time(events: pd.DataFrame) -> pd.DataFrame:
    return events.sort_values(["event_time", "event_type"]).reset_index(drop=True)


def test_rees46_needs_no_mapping() -> None:
    log = (
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
        "user_session\n"
        "2019-10-05 10:00:00 UTC,view,1,2053013555631882655,electronics.smartphone,Apple,"
        "999.5,7,s1\n"
        "2019-10-05 10:03:00 UTC,remove_from_cart,1,2053013555631882655,,apple,999.5,7,s1\n"
    )
    report, ev = L.run_layout(L.LAYOUTS["rees46"], log)
    ev = by_time(ev)
    assert report.rows_kept == 2 and sum(report.drops.values()) == 0
    assert ev["event_type"].tolist() == ["view", "remove_from_cart"]
    assert ev["category_id"].iloc[0] == "2053013555631882655"  # 19 digits, exact
    assert ev["brand"].tolist() == ["apple", "apple"] and ev["user_session"].iloc[0] == "s1"


def test_headerless_unix_seconds_with_behaviour_codes() -> None:
    log = "5,100,9,pv,1511900000\n5,100,9,fav,1511900060\n5,100,9,buy,1511900120\n"
    report, ev = L.run_layout(L.LAYOUTS["taobao"], log)
    ev = by_time(ev)
    assert ev["event_type"].tolist() == ["view", "purchase"]
    assert ev["event_time"].iloc[0] == ts("2017-11-28 20:13:20")  # UTC
    assert report.drops["event_type_dropped"] == 1  # the favourite
    assert report.sessions_derived and ev["user_session"].nunique() == 1


def test_numeric_codes_with_hourly_times() -> None:
    log = (
        "user_id,item_id,behavior_type,user_geohash,item_category,time\n"
        "1,10,1,,7,2014-12-01 00\n1,10,3,,7,2014-12-01 23\n1,10,4,,7,2014-12-02 01\n"
        "2,11,2,abc,8,2014-12-03 05\n"
    )
    report, ev = L.run_layout(L.LAYOUTS["hourly_codes"], log)
    ev = by_time(ev)
    assert ev["event_type"].tolist() == ["view", "cart", "purchase"]
    assert ev["event_time"].tolist() == [
        ts("2014-12-01 00:00"),
        ts("2014-12-01 23:00"),
        ts("2014-12-02 01:00"),
    ]
    assert ev["product_id"].iloc[0] == "10" and ev["category_id"].iloc[0] == "7"
    assert report.drops["event_type_dropped"] == 1


def test_invoice_lines_value_returns_and_missing_customers() -> None:
    log = (
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "1001,A,x,3,3/4/2011 9:05,2.50,42,UK\n"
        "1001,A,x,3,3/4/2011 9:05,2.50,42,UK\n"
        "1001,B,y,1,3/4/2011 9:05,10,42,UK\n"
        "C1002,A,x,-3,3/5/2011 10:00,2.50,42,UK\n"
        "1003,C,z,2,3/6/2011 11:00,1.25,,UK\n"
    )
    report, ev = L.run_layout(L.LAYOUTS["invoices"], log)
    # qty x unit price; the cancellation C1002 nets one of the two identical A lines out
    assert sorted(ev["price"].tolist()) == pytest.approx([7.5, 10.0])
    assert set(ev["event_type"]) == {"purchase"} and set(ev["user_session"]) == {"1001"}
    assert ev["event_time"].iloc[0] == ts("2011-03-04 09:05")
    assert report.drops["return_line"] == 1 and report.drops["incomplete_row"] == 1
    assert report.drops["cancelled_purchase"] == 1 and not report.notes[:-1]
    assert report.drops["duplicate_row"] == 0  # identical lines are kept
    assert report.rows_read == report.rows_kept + sum(report.drops.values())


def test_views_only_semicolons_and_dates() -> None:
    log = "date;visitor;product\n2021-03-05;a;1\n2021-03-05;a;2\n2021-03-07;a;1\n"
    report, ev = L.run_layout(L.LAYOUTS["views_semicolon"], log)
    assert set(ev["event_type"]) == {"view"} and report.rows_kept == 3
    assert ev["event_time"].min() == ts("2021-03-05")
    # two days apart: two derived sessions
    assert ev["user_session"].nunique() == 2


def test_aligned_purchase_columns() -> None:
    log = " customer_id  date number_of_cds  dollar_value\n 00010 19970301  2   25.98\n"
    _report, ev = L.run_layout(L.LAYOUTS["cdnow"], log)
    assert ev["user_id"].tolist() == ["00010"] and ev["price"].tolist() == [25.98]
    assert ev["event_time"].iloc[0] == ts("1997-03-01")


@pytest.mark.parametrize(
    ("what", "says"),
    [
        ("The delimiter is not the file's", "The file has columns ['date;visitor;product']"),
        ("A mapped column is not in the file", "column 'timestamp' (mapped to event_time)"),
        ("Times in another format", "could not be read as times (format '%Y-%m-%d %H:%M')"),
        ("Unix times read as text", "could not be read as times (ISO-8601)"),
        ("Event codes left unmapped", "event names that are not mapped: '2' (1 rows)"),
        ("A headerless file without column names", "list the file's columns in order"),
        ("Returns read as negative prices", "1 negative price(s)"),
        ("Rows without a user", "column 'CustomerID': 1 row(s) have no user_id"),
        ("A study window outside the log", "no events left in the study window"),
    ],
)
def test_each_mistake_gives_its_error(what: str, says: str) -> None:
    mistake = next(m for m in L.MISTAKES if m.what == what)
    message = L.mistake_message(mistake)
    assert says in message
    assert "shoplog-layout-" not in message  # the scratch folder is not shown


def test_every_mistake_is_tested_and_every_example_ingests() -> None:
    assert len(L.MISTAKES) == 9
    for layout in L.LAYOUTS.values():
        report, events = L.run_layout(layout)
        start, end = (dt.date.fromisoformat(d) for d in layout.study)
        assert report.rows_kept == len(events) > 0
        assert events["event_time"].between(str(start), str(end)).all()

"""A gallery of event logs unlike the default, written by the tests (nothing downloaded).

Each entry turns the tiny synthetic shop into the layout of a kind of public log and
gives the mapping-only profile overrides that read it. The book must build on each and
say only true things about it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from xlsx import write_xlsx

from shoplog.events import layouts, synthetic

CODES = {"view": "pv", "cart": "cart", "remove_from_cart": "fav", "purchase": "buy"}
TIANCHI = {"view": 1, "remove_from_cart": 2, "cart": 3, "purchase": 4}


@dataclass(frozen=True)
class GalleryLog:
    """A log layout: how to write it from the shop's events, and the overrides that map it."""

    name: str
    what: str
    write: Callable[[pd.DataFrame, Path], Path]
    overrides: Callable[[Path], list[str]]
    # a profile file the log is built with (written into the folder); None: the CI profile
    # with the study window 'auto'
    profile: Callable[[Path], Path] | None = None


def shop_events(folder: Path) -> pd.DataFrame:
    """The tiny synthetic shop (four months), as a frame."""
    path = folder / "shop.parquet"
    if not path.exists():
        synthetic.generate_events(path, preset="tiny", seed=42)
    return pd.read_parquet(path)


def _epoch(times: pd.Series) -> pd.Series:
    return (times - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)


def _layout_overrides(key: str) -> Callable[[Path], list[str]]:
    """The appendix example's mapping, verbatim (one JSON value), and the file it reads."""
    mapping = json.dumps(layouts.LAYOUTS[key].mapping)
    return lambda path: [f"data.source={path}", f"data.mapping={mapping}"]


def _taobao(events: pd.DataFrame, folder: Path) -> Path:
    """The appendix's Taobao layout: headerless unix seconds, pv/cart/fav/buy codes, no
    brand, no price, no session."""
    out = pd.DataFrame(
        {
            "user_id": events["user_id"],
            "product_id": events["product_id"],
            "category_id": events["category_id"],
            "behavior": events["event_type"].map(CODES),
            "timestamp": _epoch(events["event_time"]),
        }
    )
    path = folder / "UserBehavior.csv"
    out.to_csv(path, index=False, header=False)
    return path


def _hourly_codes(events: pd.DataFrame, folder: Path) -> Path:
    """The appendix's Tianchi layout: codes 1-4, times to the hour, no price."""
    out = pd.DataFrame(
        {
            "user_id": events["user_id"],
            "item_id": events["product_id"],
            "behavior_type": events["event_type"].map(TIANCHI),
            "user_geohash": "97lk14c",
            "item_category": events["category_id"],
            "time": events["event_time"].dt.floor("h").dt.strftime("%Y-%m-%d %H"),
        }
    )
    path = folder / "tianchi_mobile.csv"
    out.to_csv(path, index=False)
    return path


def _views_only(events: pd.DataFrame, folder: Path) -> Path:
    """The appendix's views layout: ';'-separated product views with date-only times and
    'NA' for unknown visitors."""
    views = events[events["event_type"] == "view"]
    visitor = views["user_id"].where(np.arange(len(views)) % 50 != 0, "NA")
    out = pd.DataFrame(
        {"date": views["event_time"].dt.date, "visitor": visitor, "product": views["product_id"]}
    )
    path = folder / "views.csv"
    out.to_csv(path, index=False, sep=";")
    return path


def _invoice_lines(events: pd.DataFrame) -> tuple[list[str], list[list]]:
    """Invoice lines of the purchases, some cancelled the next day (Online Retail layout)."""
    buys = events[events["event_type"] == "purchase"].reset_index(drop=True)
    rows = []
    for i, b in buys.iterrows():
        invoice = f"{500000 + i}"
        when = b["event_time"].to_pydatetime().replace(microsecond=0)
        line = [invoice, b["product_id"], 1 + i % 3, when, float(b["price"]), int(b["user_id"])]
        rows.append(line)
        if i % 17 == 0:  # cancelled the next day
            rows.append(["C" + invoice, line[1], -line[2], when + dt.timedelta(days=1), *line[4:]])
    header = ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]
    return header, rows


def _invoices_csv(events: pd.DataFrame, folder: Path) -> Path:
    """The appendix's invoice layout as CSV, times as month/day/year hour:minute."""
    header, rows = _invoice_lines(events)
    out = pd.DataFrame(rows, columns=header)
    out["InvoiceDate"] = [
        f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}" for t in out["InvoiceDate"]
    ]
    out.insert(2, "Description", "A THING")
    out["Country"] = "United Kingdom"
    path = folder / "online_retail.csv"
    out.to_csv(path, index=False)
    return path


def _invoices(events: pd.DataFrame, folder: Path) -> Path:
    """Invoice lines of the purchases in an Excel workbook, with some cancelled."""
    header, rows = _invoice_lines(events)
    return write_xlsx(folder / "invoices.xlsx", header, rows, sheet="Online Retail")


def _invoice_overrides(path: Path) -> list[str]:
    return [
        f"data.source={path}",
        "data.mapping.sheet=Online Retail",
        "data.mapping.columns={event_time: InvoiceDate, user_id: CustomerID, "
        "product_id: StockCode, price: UnitPrice, user_session: InvoiceNo}",
        "data.mapping.event_type=purchase",
        "data.mapping.quantity=Quantity",
        "data.mapping.duplicates=keep",
    ]


def _span(days: float) -> Callable[[pd.DataFrame, Path], Path]:
    def write(events: pd.DataFrame, folder: Path) -> Path:
        start = pd.Timestamp("2019-12-02 00:00")
        cut = events[
            (events["event_time"] >= start)
            & (events["event_time"] < start + pd.Timedelta(days=days))
        ]
        path = folder / f"span_{days:g}d.csv"
        cut.to_csv(path, index=False)
        return path

    return write


def _stray(events: pd.DataFrame, folder: Path) -> Path:
    """The shop with one test row 74 days before it opened."""
    stray = events.iloc[:1].assign(event_time=events["event_time"].min() - pd.Timedelta(days=74))
    path = folder / "stray.csv"
    pd.concat([stray, events]).to_csv(path, index=False)
    return path


def _no_prices(events: pd.DataFrame, folder: Path) -> Path:
    path = folder / "no_prices.csv"
    events.drop(columns=["price"]).to_csv(path, index=False)
    return path


def _csv_overrides(path: Path) -> list[str]:
    return [f"data.source={path}"]


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_profile(folder: Path) -> Path:
    """The README's own-log profile, exactly as printed there."""
    text = README.read_text()
    block = re.search(r"```yaml\n(extends: default\nprofile: mylog\n.*?)```", text, re.S)
    assert block is not None, "the README's mylog example is gone"
    path = folder / "mylog.yml"
    path.write_text(block.group(1))
    return path


def _readme_log(events: pd.DataFrame, folder: Path) -> Path:
    """The Taobao shape the README's example reads (uid, item, cat, behavior, ts), moved
    to the nine days of its study window."""
    start = pd.Timestamp("2019-12-02")
    cut = events[
        (events["event_time"] >= start) & (events["event_time"] < start + pd.Timedelta(days=9))
    ]
    shift = pd.Timestamp("2017-11-25") - start
    out = pd.DataFrame(
        {
            "uid": cut["user_id"],
            "item": cut["product_id"],
            "cat": cut["category_id"],
            "behavior": cut["event_type"].map(CODES),
            "ts": _epoch(cut["event_time"] + shift),
        }
    )
    path = folder / "clicks.csv"
    out.to_csv(path, index=False, header=False)
    return path


GALLERY = (
    GalleryLog("taobao", "the appendix's headerless unix seconds, pv/cart/fav/buy, no brand or "
               "price", _taobao, _layout_overrides("taobao")),
    GalleryLog("hourly", "the appendix's numeric codes 1-4, times to the hour, no price",
               _hourly_codes, _layout_overrides("hourly_codes")),
    GalleryLog("views", "the appendix's ';'-separated views, dates only, 'NA' visitors",
               _views_only, _layout_overrides("views_semicolon")),
    GalleryLog("invoices_csv", "the appendix's invoice lines with cancellations",
               _invoices_csv, _layout_overrides("invoices")),
    GalleryLog("invoices", "invoice lines in .xlsx with cancellations", _invoices,
               _invoice_overrides),
    GalleryLog("nine_days", "nine days of the shop", _span(9), _csv_overrides),
    GalleryLog("seven_weeks", "seven weeks of the shop", _span(49), _csv_overrides),
    GalleryLog("two_hours", "two hours of the shop", _span(2 / 24), _csv_overrides),
    GalleryLog("stray", "one stray row 74 days early", _stray, _csv_overrides),
    GalleryLog("no_prices", "the shop without prices", _no_prices, _csv_overrides),
    GalleryLog("readme", "the README's own-log example, its profile verbatim", _readme_log,
               _csv_overrides, readme_profile),
)  # fmt: skip

"""A gallery of event logs unlike the default, written by the tests (nothing downloaded).

Each entry turns the tiny synthetic shop into the layout of a kind of public log and
gives the mapping-only profile overrides that read it. The book must build on each and
say only true things about it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from xlsx import write_xlsx

from shoplog.events import synthetic

CODES = {"view": "pv", "cart": "cart", "remove_from_cart": "fav", "purchase": "buy"}
NUMERIC = {"view": 0, "cart": 1, "remove_from_cart": 2, "purchase": 3}


@dataclass(frozen=True)
class GalleryLog:
    """A log layout: how to write it from the shop's events, and the overrides that map it."""

    name: str
    what: str
    write: Callable[[pd.DataFrame, Path], Path]
    overrides: Callable[[Path], list[str]]


def shop_events(folder: Path) -> pd.DataFrame:
    """The tiny synthetic shop (four months), as a frame."""
    path = folder / "shop.parquet"
    if not path.exists():
        synthetic.generate_events(path, preset="tiny", seed=42)
    return pd.read_parquet(path)


def _epoch(times: pd.Series) -> pd.Series:
    return (times - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)


def _taobao(events: pd.DataFrame, folder: Path) -> Path:
    """Headerless unix seconds, pv/cart/fav/buy codes, no brand, no price, no session."""
    out = pd.DataFrame(
        {
            "user": events["user_id"],
            "item": events["product_id"],
            "category": events["category_id"],
            "behavior": events["event_type"].map(CODES),
            "ts": _epoch(events["event_time"]),
        }
    )
    path = folder / "user_behavior.csv"
    out.to_csv(path, index=False, header=False)
    return path


def _taobao_overrides(path: Path) -> list[str]:
    return [
        f"data.source={path}",
        "data.mapping.header=false",
        "data.mapping.names=[user, item, category, behavior, ts]",
        "data.mapping.columns={user_id: user, product_id: item, category_id: category, "
        "event_type: behavior, event_time: ts}",
        "data.mapping.time_unit=auto",
        "data.mapping.event_types={pv: view, cart: cart, fav: remove_from_cart, buy: purchase}",
    ]


def _hourly_codes(events: pd.DataFrame, folder: Path) -> Path:
    """Numeric event codes and times truncated to the hour (action logs of app stores)."""
    out = pd.DataFrame(
        {
            "user_id": events["user_id"],
            "item_id": events["product_id"],
            "action": events["event_type"].map(NUMERIC),
            "time": events["event_time"].dt.floor("h").dt.strftime("%Y%m%d%H"),
            "price": events["price"],
        }
    )
    path = folder / "actions.csv"
    out.to_csv(path, index=False)
    return path


def _hourly_overrides(path: Path) -> list[str]:
    return [
        f"data.source={path}",
        "data.mapping.columns={product_id: item_id, event_type: action, event_time: time}",
        "data.mapping.time_format='%Y%m%d%H'",  # quoted: YAML reads a leading % as a directive
        "data.mapping.event_types={'0': view, '1': cart, '2': remove_from_cart, '3': purchase}",
        # whole-hour times repeat: two views of one product in an hour are two events
        "data.mapping.duplicates=keep",
    ]


def _views_only(events: pd.DataFrame, folder: Path) -> Path:
    """';'-separated product views with date-only times and 'NA' for unknown visitors."""
    views = events[events["event_type"] == "view"]
    visitor = views["user_id"].where(np.arange(len(views)) % 50 != 0, "NA")
    out = pd.DataFrame(
        {"date": views["event_time"].dt.date, "visitor": visitor, "product": views["product_id"]}
    )
    path = folder / "views.csv"
    out.to_csv(path, index=False, sep=";")
    return path


def _views_overrides(path: Path) -> list[str]:
    return [
        f"data.source={path}",
        "data.mapping.delimiter=;",
        "data.mapping.columns={event_time: date, user_id: visitor, product_id: product}",
        "data.mapping.event_type=view",
        "data.mapping.drop_incomplete_rows=true",
        "data.mapping.duplicates=keep",
    ]


def _invoices(events: pd.DataFrame, folder: Path) -> Path:
    """Invoice lines of the purchases in an Excel workbook, with some cancelled."""
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


GALLERY = (
    GalleryLog("taobao", "headerless unix seconds, pv/cart/fav/buy, no brand or price",
               _taobao, _taobao_overrides),
    GalleryLog("hourly", "numeric event codes, times to the hour", _hourly_codes,
               _hourly_overrides),
    GalleryLog("views", "';'-separated views only, dates only, 'NA' visitors", _views_only,
               _views_overrides),
    GalleryLog("invoices", "invoice lines in .xlsx with cancellations", _invoices,
               _invoice_overrides),
    GalleryLog("nine_days", "nine days of the shop", _span(9), _csv_overrides),
    GalleryLog("seven_weeks", "seven weeks of the shop", _span(49), _csv_overrides),
    GalleryLog("two_hours", "two hours of the shop", _span(2 / 24), _csv_overrides),
    GalleryLog("stray", "one stray row 74 days early", _stray, _csv_overrides),
    GalleryLog("no_prices", "the shop without prices", _no_prices, _csv_overrides),
)  # fmt: skip

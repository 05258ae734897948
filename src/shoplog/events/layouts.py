"""Worked column mappings for common log layouts, and the mistakes people make with them.

The "Bring your own log" appendix runs every example below through the real ingestion,
so the page shows what the mapping produces and the exact error each mistake gives.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from shoplog.config.params import ParamsError, validate_params
from shoplog.config.paths import ProjectPaths
from shoplog.events.ingest import IngestError, QualityReport, ingest


@dataclass(frozen=True)
class Layout:
    """A log layout: what it looks like, and the ``data.mapping`` that reads it."""

    key: str
    title: str
    about: str
    filename: str
    sample: str
    mapping: dict[str, Any]
    study: tuple[str, str]


LAYOUTS: dict[str, Layout] = {
    layout.key: layout
    for layout in (
        Layout(
            "rees46",
            "REES46 (the canonical layout)",
            "One row per event with the canonical column names and UTC times; no mapping.",
            "2019-Oct.csv",
            "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
            "user_session\n"
            "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,"
            "541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c\n"
            "2019-10-01 00:00:05 UTC,cart,3900821,2053013552326770905,"
            "appliances.environment.water_heater,aqua,33.20,554748717,"
            "9333dfbd-b87a-4708-9857-6336556b0fcc\n"
            "2019-10-01 00:01:10 UTC,purchase,3900821,2053013552326770905,"
            "appliances.environment.water_heater,aqua,33.20,554748717,"
            "9333dfbd-b87a-4708-9857-6336556b0fcc\n",
            {},
            ("2019-10-01", "2019-11-01"),
        ),
        Layout(
            "taobao",
            "Headerless, unix seconds, pv/cart/fav/buy codes",
            "The Taobao UserBehavior layout: user, item, category, behaviour code and a unix "
            "timestamp, without a header line. Favourites have no canonical type: they are "
            "dropped and counted.",
            "UserBehavior.csv",
            "1,2268318,2520377,pv,1511544070\n"
            "1,2268318,2520377,cart,1511544100\n"
            "1,2268318,2520377,fav,1511544200\n"
            "1,2268318,2520377,buy,1511545000\n"
            "2,1333346,2520771,pv,1511561733\n",
            {
                "header": False,
                "names": ["user_id", "product_id", "category_id", "behavior", "timestamp"],
                "columns": {"event_type": "behavior", "event_time": "timestamp"},
                "time_unit": "s",
                "event_types": {"pv": "view", "cart": "cart", "fav": "drop", "buy": "purchase"},
            },
            ("2017-11-24", "2017-12-04"),
        ),
        Layout(
            "hourly_codes",
            "Numeric event codes 1-4, hourly times",
            "The Tianchi mobile-commerce layout: behaviour codes 1 (view), 2 (favourite), "
            "3 (cart) and 4 (purchase), and times to the hour written `YYYY-MM-DD HH`. "
            "Columns the book does not use (`user_geohash`) are ignored. Two views of one "
            "product in one hour are identical rows, so repeats are kept as events.",
            "tianchi_mobile.csv",
            "user_id,item_id,behavior_type,user_geohash,item_category,time\n"
            "10001082,285259775,1,97lk14c,4076,2014-12-08 18\n"
            "10001082,285259775,3,97lk14c,4076,2014-12-08 18\n"
            "10001082,285259775,4,,4076,2014-12-08 19\n"
            "10001083,4368907,2,,5503,2014-12-12 12\n",
            {
                "columns": {
                    "product_id": "item_id",
                    "event_type": "behavior_type",
                    "category_id": "item_category",
                    "event_time": "time",
                },
                "time_format": "%Y-%m-%d %H",
                "event_types": {"1": "view", "2": "drop", "3": "cart", "4": "purchase"},
                "duplicates": "keep",
            },
            ("2014-11-18", "2014-12-19"),
        ),
        Layout(
            "invoices",
            "Invoice lines, returns as negative quantities",
            "A transaction export in the Online Retail layout: one row per invoice line with "
            "a quantity and a unit price; cancelled invoices (`C...`) carry negative "
            "quantities. Every line is a purchase whose value is quantity x unit price; "
            "return lines are dropped and counted; the invoice is the session; lines "
            "without a customer are dropped and counted; identical lines are kept (they "
            "are separate lines).",
            "online_retail.csv",
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
            "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,"
            "United Kingdom\n"
            "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom\n"
            "C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom\n"
            "536414,22139,RETROSPOT TEA SET,56,12/1/2010 11:52,0,,United Kingdom\n",
            {
                "columns": {
                    "user_id": "CustomerID",
                    "event_time": "InvoiceDate",
                    "product_id": "StockCode",
                    "price": "UnitPrice",
                    "user_session": "InvoiceNo",
                },
                "time_format": "%m/%d/%Y %H:%M",
                "event_type": "purchase",
                "quantity": "Quantity",
                "drop_incomplete_rows": True,
                "duplicates": "keep",
            },
            ("2010-12-01", "2011-12-10"),
        ),
        Layout(
            "views_semicolon",
            "Views only, `;` separators, date-only times",
            "A page-view export: `;`-separated, one row per viewed product, dates without a "
            "time. Every row is a view; times are midnight, so sessions are whole days, and "
            "repeated views of a product on one day are identical rows, kept as events. "
            "Anonymous views (`NA` visitor) are dropped and counted.",
            "views.csv",
            "date;visitor;product\n2021-03-01;u1;p9\n2021-03-01;u1;p4\n2021-03-01;NA;p4\n"
            "2021-03-02;u2;p9\n",
            {
                "delimiter": ";",
                "columns": {"event_time": "date", "user_id": "visitor", "product_id": "product"},
                "time_format": "%Y-%m-%d",
                "event_type": "view",
                "drop_incomplete_rows": True,
                "duplicates": "keep",
            },
            ("2021-03-01", "2021-04-01"),
        ),
        Layout(
            "cdnow",
            "Purchases in aligned columns (CDNOW)",
            "The CDNOW purchase log of the BG/NBD paper: columns aligned with runs of "
            "spaces, dates as `YYYYMMDD`, the order's value in dollars. Every row is a "
            "purchase; same-day orders are separate rows and are kept.",
            "CDNOW_master.txt",
            " customer_id  date number_of_cds  dollar_value\n"
            " 00001 19970101  1   11.77\n"
            " 00002 19970112  1   12.00\n"
            " 00002 19970112  5   77.00\n",
            {
                "delimiter": "whitespace",
                "columns": {
                    "user_id": "customer_id",
                    "event_time": "date",
                    "price": "dollar_value",
                },
                "time_format": "%Y%m%d",
                "event_type": "purchase",
                "duplicates": "keep",
            },
            ("1997-01-01", "1998-07-01"),
        ),
    )
}


@dataclass(frozen=True)
class Mistake:
    """A common mapping mistake: the layout it happens with, what changes, and the fix."""

    what: str
    layout: str
    fix: str
    mapping: dict[str, Any] = field(default_factory=dict)
    sample: str | None = None
    study: tuple[str, str] | None = None


MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "The delimiter is not the file's",
        "views_semicolon",
        "Set `data.mapping.delimiter` to the file's separator (`;`, `\\t`, or "
        "`whitespace` for aligned columns).",
        {"delimiter": ","},
    ),
    Mistake(
        "A mapped column is not in the file",
        "hourly_codes",
        "Use the file's own column name (the error lists them).",
        {"columns": {"event_time": "timestamp", "event_type": "behavior_type"}},
    ),
    Mistake(
        "Times in another format",
        "hourly_codes",
        "Give `data.mapping.time_format` in strptime codes (`%Y-%m-%d %H` here).",
        {"time_format": "%Y-%m-%d %H:%M"},
    ),
    Mistake(
        "Unix times read as text",
        "taobao",
        "Set `data.mapping.time_unit` to `s` (or `ms`) for epoch numbers.",
        {"time_unit": None},
    ),
    Mistake(
        "Event codes left unmapped",
        "hourly_codes",
        "Map every code under `data.mapping.event_types` (to a canonical type or `drop`).",
        {"event_types": {"1": "view", "3": "cart", "4": "purchase"}},
    ),
    Mistake(
        "A headerless file without column names",
        "taobao",
        "List the columns in file order under `data.mapping.names`.",
        {"names": None},
    ),
    Mistake(
        "Returns read as negative prices",
        "invoices",
        "Name the quantity column in `data.mapping.quantity`, so return lines are dropped "
        "and counted, or filter them out of the export.",
        {"quantity": None},
        "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
        "536365,85123A,6,12/1/2010 8:26,2.55,17850\n"
        "C536379,D,-1,12/1/2010 9:41,-27.5,14527\n",
    ),
    Mistake(
        "Rows without a user",
        "invoices",
        "Fix the export, or set `data.mapping.drop_incomplete_rows: true` to drop and count them.",
        {"drop_incomplete_rows": False},
    ),
    Mistake(
        "A study window outside the log",
        "views_semicolon",
        "Set `study.start_date` and `study.end_date` around the log's dates.",
        study=("2022-01-01", "2022-02-01"),
    ),
)


def layout_params(layout: Layout, source: Path, **changes: Any):
    """Validated parameters reading ``source`` with the layout's mapping (and ``changes``)."""
    mapping = {**layout.mapping, **changes.pop("mapping", {})}
    mapping = {k: v for k, v in mapping.items() if v is not None}
    start, end = changes.pop("study", None) or layout.study
    return validate_params(
        {
            "profile": f"layout {layout.key}",
            "data": {"source": str(source), "mapping": mapping},
            "study": {"start_date": start, "end_date": end},
            "engine": {"memory_limit": "1GB", "threads": 1},
        },
        origin=f"the {layout.key} example",
    )


def run_layout(
    layout: Layout, text: str | None = None, **changes: Any
) -> tuple[QualityReport, pd.DataFrame]:
    """Ingest ``text`` (default: the layout's sample) with its mapping in a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="shoplog-layout-") as scratch:
        source = Path(scratch) / layout.filename
        source.write_bytes((layout.sample if text is None else text).encode())
        params = layout_params(layout, source, **changes)
        paths = ProjectPaths(data_dir=Path(scratch) / "data")
        report = ingest(params, paths)
        events = pd.read_parquet(paths.events_path)
    return report, events


def mistake_message(mistake: Mistake) -> str:
    """The error the mistake produces, on one line, with the scratch folder left out."""
    layout = LAYOUTS[mistake.layout]
    try:
        run_layout(
            layout,
            mistake.sample,
            mapping=dict(mistake.mapping),
            study=mistake.study,
        )
    except (IngestError, ParamsError) as exc:
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        return re.sub(r"\S*shoplog-layout-[^/\s]+/", "", message)
    raise AssertionError(f"{mistake.what}: the {layout.key} example gave no error")

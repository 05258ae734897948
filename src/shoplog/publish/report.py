"""Helpers for chapters: glue numbers into prose and keep a JSON record of them.

Every number a chapter quotes in its text goes through :func:`glue`, so the
prose never holds a typed number, and :func:`save_glued` writes the same values
to the outputs folder, where tests and later chapters can compare them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shoplog.files import atomic_write_json
from shoplog.modeling import artifacts

_GLUED: dict[str, Any] = {}


def _plain(value: Any) -> Any:
    """A JSON-friendly version of ``value`` (numpy scalars, timestamps, dates)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def glue(name: str, value: Any) -> Any:
    """Make ``value`` available to the chapter's prose as ``{glue:text}`name```; returns it."""
    from myst_nb import glue as nb_glue

    value = _plain(value)
    nb_glue(name, value, display=False)
    _GLUED[name] = value
    return value


def glued() -> dict[str, Any]:
    """The values glued so far in this kernel."""
    return dict(_GLUED)


def save_glued(path: str | Path) -> None:
    """Write the glued values as JSON (sorted keys, so identical runs give identical files)."""
    atomic_write_json(path, _GLUED, indent=2, sort_keys=True)


def share_text(value: float) -> str:
    """A share as a percentage that never shows a non-zero share as 0.000%."""
    if value == 0:
        return "0%"
    if abs(value) < 0.00001:
        return "< 0.001%"
    return f"{value:.3%}" if abs(value) < 0.01 else f"{value:.2%}"


MISSING = "—"
PRICE_UNITS = "price units"
_MONEY = {"unit": PRICE_UNITS}


def change_text(before: float, after: float, spec: str) -> str:
    """``moves from 0.1714 to 0.1690``, or ``stays at 0.1714`` when both print alike: a
    sentence never reports "from X to X" as a change."""
    a, b = format(before, spec), format(after, spec)
    return f"stays at {a}" if a == b else f"moves from {a} to {b}"


def counted(n: float, singular: str, plural: str | None = None, spec: str = ",.0f") -> str:
    """``1 minute``, ``3 minutes``: a number with its noun in the number it is printed as."""
    shown = format(n, spec)
    one = shown in ("1", "1.0", "-1")
    return f"{shown} {singular if one else plural or singular + 's'}"


def p_text(p: float) -> str:
    """A p-value as printed: "p = 0.032", "p = 3.4e-05", and "p < 1e-15" below what a
    double can tell from 0 (never "p = 0")."""
    if p < 1e-15:
        return "p < 1e-15"
    return f"p = {p:.2g}"


def share_words(share: float) -> str:
    """How a share reads before "of the ...": "most of" only above one half, "half of" at
    one half as printed (0%), "less than half of" below it, "all of" at 100%."""
    shown = round(share * 100)
    if shown >= 100 and share >= 1:
        return "all of"
    if shown == 50:
        return "half of"
    return "most of" if share > 0.5 else "less than half of"


def set_currency(currency: str | None) -> str:
    """Money in this chapter is in ``currency`` (``data.currency``; none: the log's price
    units). Glued as ``currency`` for the prose; returns the unit."""
    _MONEY["unit"] = currency or PRICE_UNITS
    glue("currency", _MONEY["unit"])
    return _MONEY["unit"]


def currency() -> str:
    """The unit money is shown in (set by :func:`set_currency`)."""
    return _MONEY["unit"]


def money_label(text: str) -> str:
    """An axis title or column heading for money: ``Expected profit (EUR)``."""
    return f"{text} ({_MONEY['unit']})"


def money(value: float, spec: str = ",.0f") -> str:
    """A money amount with its unit: ``12,345 EUR``."""
    return f"{format(value, spec)} {_MONEY['unit']}"


def styled(df: pd.DataFrame, formats: dict[str, Any]) -> Any:
    """A table for the book: no index, numbers right-aligned with room between columns, and
    a missing value shown as a dash (never 'nan')."""
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
    return (
        df.style.format(na_rep=MISSING)
        .format(formats, na_rep=MISSING)
        .hide(axis="index")
        .set_properties(subset=numeric, **{"text-align": "right"})
        .set_table_styles([{"selector": "th, td", "props": "padding: 0.2em 0.9em;"}])
    )


def load_glued(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def prose(template: str) -> Any:
    """Markdown whose ``{name:format}`` fields are filled from the glued values.

    For prose that only exists under a condition (a section a log cannot support is
    skipped): the numbers still come from the glued record, never typed by hand.
    """
    from IPython.display import Markdown

    return Markdown(template.format(**_GLUED))


def notice(text: str, kind: str = "note") -> Any:
    """A visible admonition (``note``, ``warning``) for a section the data cannot support.

    Written as the theme's admonition HTML: Markdown outputs are rendered as CommonMark,
    where a ``{note}`` directive would show as a code block.
    """
    import html

    from IPython.display import HTML

    title = {"note": "Note", "warning": "Warning"}.get(kind, kind.capitalize())
    return HTML(
        f'<div class="admonition {html.escape(kind)}">'
        f'<p class="admonition-title">{title}</p><p>{html.escape(text)}</p></div>'
    )


# benchmark columns shown in the book: (heading, column of the benchmark table, format)
BENCHMARK_COLUMNS = [
    ("Model", "model", None),
    ("Validation PR-AUC", "validation_pr_auc", "{:.3f}"),
    ("Test PR-AUC", "pr_auc", "{:.3f}"),
    ("95% interval", None, None),
    ("ROC-AUC", "roc_auc", "{:.3f}"),
    ("Brier", "brier", "{:.4f}"),
    ("P@K", "precision_at_k", "{:.1%}"),
    ("R@K", "recall_at_k", "{:.1%}"),
    ("Lift@K", "lift_at_k", "{:.2f}"),
    ("F1", "f1", "{:.3f}"),
    ("Threshold", "threshold", "{:.3f}"),
]


def benchmark_table(table: pd.DataFrame, kept: str | None = None, drop: tuple = ()) -> Any:
    """A benchmark table (``models.benchmark`` rows) for the book: test PR-AUC with its
    interval, the other metrics, ``kept`` in bold; headings in ``drop`` left out."""
    out = pd.DataFrame(
        {
            heading: (
                table[column]
                if column
                else [
                    f"[{lo:.3f}, {hi:.3f}]"
                    for lo, hi in zip(table["pr_auc_low"], table["pr_auc_high"], strict=True)
                ]
            )
            for heading, column, _ in BENCHMARK_COLUMNS
            if heading not in drop
        }
    )
    formats = {h: f for h, _, f in BENCHMARK_COLUMNS if f and h not in drop}
    return (
        styled(out, formats)
        .apply(lambda r: ["font-weight: bold" if r["Model"] == kept else "" for _ in r], axis=1)
        .set_properties(**{"font-size": "0.8em"})
        .set_properties(subset=["95% interval"], **{"white-space": "nowrap"})
        .set_table_styles([{"selector": "th, td", "props": "padding: 0.15em 0.4em;"}])
    )


class ChapterSkipped(Exception):
    """Raised by a chapter whose inputs this log or these parameters cannot provide."""


def skip_chapter_unless(condition: bool, reason: str) -> None:
    """Stop the chapter when ``condition`` is false; the runner publishes ``reason`` instead.

    For chapters that cannot run at all on this log (no modelling table, no models): the
    page keeps its title and says why, and the book still builds."""
    if not condition:
        raise ChapterSkipped(reason)


def require_models(models_dir: str | Path, dataset_path: str | Path, what: str) -> Path:
    """The models folder, or the chapter is skipped (with ``what`` it needed them for)
    when the models chapter did not apply to this log."""
    models_dir = Path(models_dir)
    skip_chapter_unless(
        Path(dataset_path).exists() and artifacts.card_path(models_dir, "churn").exists(),
        f"the models chapter did not apply to this log, so there are no models {what}.",
    )
    return models_dir


def require_artifact(path: str | Path, chapter: str, what: str) -> Path:
    """``path``, or the chapter is skipped when the chapter that writes it did not apply."""
    path = Path(path)
    skip_chapter_unless(
        path.exists(), f"the {chapter} chapter did not apply to this log, so there is no {what}."
    )
    return path


def code_html(text: str) -> str:
    """Markdown `code` spans as HTML (table cells are HTML); everything else escaped."""
    import html
    import re

    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))

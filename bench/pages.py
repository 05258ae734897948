"""How heavy and how fast the built book's pages are, against the budgets.

Prints the site's size, each page's size, and the time from navigation to ready (the
page loaded and the figures on its first screen drawn) in headless Chromium from disk:
the first visit (plotly.js parsed) and the median of later visits, plus how long drawing
every other figure at once takes.

    .venv/bin/python bench/pages.py                 # the default book in _build/html
    .venv/bin/python bench/pages.py --html DIR --repeat 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
from pathlib import Path

from shoplog.publish.browser import Chromium

SITE_BUDGET_MB = 15.0
PAGE_BUDGET_KB = 700.0
READY_BUDGET_MS = 1500.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", default="_build/html", help="the built book")
    parser.add_argument("--repeat", type=int, default=3, help="visits per page")
    args = parser.parse_args()
    html = Path(args.html)
    files = [p for p in html.rglob("*") if p.is_file()]
    site = sum(p.stat().st_size for p in files) / 2**20
    pages = sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)
    print(f"{dt.date.today()}, {os.cpu_count()} cores, {html}")
    print(f"site: {site:.1f} MB in {len(files)} files (budget {SITE_BUDGET_MB:.0f} MB)")
    print(f"{'page':32} {'KB':>6} {'figs':>4} {'first ms':>9} {'later ms':>9} {'all ms':>9}")
    worst = 0.0
    with Chromium() as browser:
        for page in pages:
            visits = [browser.open(page) for _ in range(max(args.repeat, 1))]
            first, later = visits[0], visits[1:] or visits
            later_ms = statistics.median(v.ready_ms or float("nan") for v in later)
            worst = max(worst, later_ms) if first.figures else worst
            errors = sum(len(v.errors) + len(v.failed) for v in visits)
            flag = f"  {errors} errors" if errors else ""
            print(
                f"{page.relative_to(html).as_posix():32} {page.stat().st_size / 1024:6.0f} "
                f"{first.figures:4d} {first.ready_ms or float('nan'):9.0f} {later_ms:9.0f} "
                f"{statistics.median(v.draw_all_ms or 0 for v in visits):9.0f}{flag}"
            )
    largest = max(p.stat().st_size for p in pages) / 1024
    print(
        f"largest page {largest:.0f} KB (budget {PAGE_BUDGET_KB:.0f}); slowest figure page "
        f"ready in {worst:.0f} ms on a later visit (budget {READY_BUDGET_MS:.0f})"
    )


if __name__ == "__main__":
    main()

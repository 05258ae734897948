"""The embedded synthetic shop: a seeded event log in the REES46 layout.

How it is made (the book's Data chapter repeats this for readers):

- **Calendar.** An hourly intensity = trend x weekly x daily x promotions. User
  visits are drawn in "operational time" (days of average activity) and mapped
  back to the calendar through the cumulative intensity, so every user follows
  the same seasonality and the promotion day gets more visits.
- **Users** arrive over the period (more later: growth). Each has a visit rate
  (gamma across users: heavy-tailed) and, after every visit, a chance of lapsing
  for good (beta across users): the BG/NBD story. In the last visits before a
  user lapses, engagement fades: longer gaps, shorter sessions, more removed
  carts and fewer purchases, so churn is predictable from behaviour.
- **Sessions** walk view -> cart -> (remove) -> purchase, mostly within the
  user's favourite category; products have Zipf-like popularity and lognormal
  prices by category. Promotion days convert better at lower prices.
- **Mess** real logs have: empty ``category_code``/``brand`` strings for some
  products, and a few exact duplicate rows.

The same preset and seed give a byte-identical Parquet file: users are made in
fixed-size chunks, each from its own child of the seed, and written in order.

Size: the generator is one seeded story; kept in one module, the order in which it
draws from the random stream (and so every byte of the default log) is easy to keep.
"""

from __future__ import annotations

import binascii
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

RAW_SCHEMA = pa.schema(
    [
        ("event_time", pa.timestamp("us")),
        ("event_type", pa.string()),
        ("product_id", pa.int64()),
        ("category_id", pa.int64()),
        ("category_code", pa.string()),
        ("brand", pa.string()),
        ("price", pa.float64()),
        ("user_id", pa.int64()),
        ("user_session", pa.string()),
    ]
)

# REES46-style category codes with a typical price (median, in the shop's currency).
CATEGORIES: tuple[tuple[str, float], ...] = (
    ("electronics.smartphone", 260.0),
    ("electronics.audio.headphone", 55.0),
    ("appliances.kitchen.washer", 330.0),
    ("electronics.video.tv", 420.0),
    ("computers.notebook", 640.0),
    ("appliances.environment.vacuum", 140.0),
    ("apparel.shoes", 75.0),
    ("appliances.kitchen.refrigerators", 520.0),
    ("electronics.clocks", 160.0),
    ("computers.peripherals.mouse", 22.0),
    ("furniture.living_room.sofa", 460.0),
    ("kids.toys", 24.0),
    ("auto.accessories.player", 65.0),
    ("construction.tools.drill", 85.0),
    ("appliances.kitchen.kettle", 32.0),
    ("sport.bicycle", 310.0),
    ("accessories.bag", 42.0),
    ("apparel.shirt", 28.0),
    ("electronics.tablet", 280.0),
    ("appliances.personal.hair_cutter", 38.0),
)
BRANDS: tuple[str, ...] = (
    "samsung",
    "apple",
    "xiaomi",
    "huawei",
    "lg",
    "sony",
    "lenovo",
    "acer",
    "asus",
    "hp",
    "bosch",
    "philips",
    "indesit",
    "beko",
    "artel",
    "redmond",
    "tefal",
    "polaris",
    "nike",
    "adidas",
    "puma",
    "lego",
    "hasbro",
    "pioneer",
    "jbl",
    "makita",
    "dewalt",
    "stels",
    "forward",
    "casio",
    "garmin",
    "logitech",
    "defender",
    "respect",
    "rieker",
    "ikea",
)

_US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class Promotion:
    """A promotion day: more traffic, better conversion, lower prices."""

    day: dt.date
    traffic: float
    conversion: float
    price: float


@dataclass(frozen=True)
class Preset:
    """Size and period of a synthetic shop."""

    n_users: int
    start: dt.date
    end: dt.date
    n_products: int
    promotions: tuple[Promotion, ...] = field(
        default=(
            Promotion(dt.date(2019, 11, 29), traffic=3.2, conversion=1.7, price=0.8),
            Promotion(dt.date(2019, 12, 2), traffic=1.6, conversion=1.3, price=0.9),
        )
    )


PRESETS: dict[str, Preset] = {
    # tests: a few seconds, still long enough for anchors with a 30-day horizon
    "tiny": Preset(
        n_users=2_500, start=dt.date(2019, 10, 1), end=dt.date(2020, 2, 1), n_products=400
    ),
    # the book: nine months, enough for a 90-day warm-up, train, validation and test anchors
    "default": Preset(
        n_users=80_000, start=dt.date(2019, 10, 1), end=dt.date(2020, 7, 1), n_products=4_000
    ),
    # benchmarks: about 10M events over the same nine months; scale with n_users for more
    "large": Preset(
        n_users=550_000, start=dt.date(2019, 10, 1), end=dt.date(2020, 7, 1), n_products=20_000
    ),
}


@dataclass(frozen=True)
class Behaviour:
    """Distributions of user behaviour; fixed, so a seed alone decides the log."""

    visit_rate_shape: float = 0.9  # gamma shape of visits per (average) day
    visit_rate_scale: float = 0.14
    dropout_a: float = 1.5  # beta prior of the chance of lapsing after a visit
    dropout_b: float = 7.0
    max_visits: int = 300
    fade_visits: float = 1.5  # engagement fades over about this many final visits
    fade_gap: float = 1.2  # gaps grow by up to this factor while fading
    fade_depth: float = 0.45  # sessions shrink by up to this share
    fade_buy: float = 0.65  # purchase chance falls by up to this share
    fade_remove: float = 0.35  # removal chance rises by up to this much
    initial_share: float = 0.3  # users already customers at the start
    history_days: float = 120.0  # existing customers started up to this long before the start
    growth: float = 1.2  # arrivals at the end are 1 + growth times those at the start
    favourite_category: float = 0.75
    in_category: float = 0.85
    view_gap_seconds: float = 50.0
    blank_category_code: float = 0.25
    blank_brand: float = 0.12
    duplicate_share: float = 0.0015


@dataclass(frozen=True)
class GenerationSummary:
    """What was written: rows (with duplicates), users and sessions seen, period."""

    path: Path
    rows: int
    users: int
    sessions: int
    start: dt.date
    end: dt.date
    preset: str
    seed: int


@dataclass(frozen=True)
class _Catalogue:
    category: np.ndarray  # per product: category index (products sorted by category)
    cat_offset: np.ndarray  # first product of each category
    cat_size: np.ndarray
    cat_weight: np.ndarray  # category popularity (sums to 1)
    product_id: np.ndarray
    category_id: np.ndarray
    category_code: np.ndarray  # per product, "" when blank
    brand: np.ndarray  # per product, "" when blank
    base_price: np.ndarray


@dataclass(frozen=True)
class _Calendar:
    start_us: int
    hours: np.ndarray  # grid 0..H (hours since start)
    cumulative: np.ndarray  # operational days at each grid point
    promo_conversion: np.ndarray  # per hour
    promo_price: np.ndarray  # per hour

    @property
    def total(self) -> float:
        return float(self.cumulative[-1])


def _make_catalogue(rng: np.random.Generator, n_products: int, beh: Behaviour) -> _Catalogue:
    n_cat = len(CATEGORIES)
    cat_weight = 1.0 / np.arange(1, n_cat + 1) ** 0.8
    cat_weight /= cat_weight.sum()
    # products per category follow popularity (at least 5 each)
    sizes = np.maximum(5, np.floor(cat_weight * n_products)).astype(np.int64)
    category = np.repeat(np.arange(n_cat), sizes)
    offset = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    n = int(sizes.sum())
    medians = np.array([m for _, m in CATEGORIES])
    base_price = np.round(rng.lognormal(np.log(medians[category]), 0.45), 2)
    base_price = np.maximum(base_price, 0.99)
    codes = np.array([c for c, _ in CATEGORIES], dtype=object)[category]
    # each category draws its brands from a pool of six
    pools = np.stack([rng.choice(len(BRANDS), size=6, replace=False) for _ in range(n_cat)])
    brand_idx = pools[category, rng.integers(0, 6, size=n)]
    brand = np.array(BRANDS, dtype=object)[brand_idx]
    codes = np.where(rng.random(n) < beh.blank_category_code, "", codes)
    brand = np.where(rng.random(n) < beh.blank_brand, "", brand)
    product_id = 1_000_000 + rng.choice(9_000_000, size=n, replace=False)
    category_id = 2_053_013_552_000_000_000 + np.arange(n_cat, dtype=np.int64) * 1_237_913_337
    return _Catalogue(
        category=category,
        cat_offset=offset,
        cat_size=sizes,
        cat_weight=cat_weight,
        product_id=product_id.astype(np.int64),
        category_id=category_id[category],
        category_code=codes,
        brand=brand,
        base_price=base_price,
    )


def _make_calendar(preset: Preset) -> _Calendar:
    start = dt.datetime.combine(preset.start, dt.time())
    n_hours = int((preset.end - preset.start).days * 24)
    hours = np.arange(n_hours)
    stamps = np.datetime64(start, "h") + hours.astype("timedelta64[h]")
    dow = (stamps.astype("datetime64[D]").view("int64") + 3) % 7  # 0 = Monday
    hour_of_day = hours % 24
    x = hours / max(n_hours - 1, 1)
    trend = 0.85 + 0.3 * x
    weekly = np.array([1.06, 1.0, 0.97, 0.96, 0.99, 0.9, 1.12])[dow]
    # a night trough around 03:00 UTC and an evening peak around 19:00 UTC
    daily = 1.0 + 0.55 * np.sin(2 * np.pi * (hour_of_day - 13) / 24)
    promo_traffic = np.ones(n_hours)
    promo_conversion = np.ones(n_hours)
    promo_price = np.ones(n_hours)
    days = stamps.astype("datetime64[D]")
    for promo in preset.promotions:
        on = days == np.datetime64(promo.day)
        promo_traffic[on] = promo.traffic
        promo_conversion[on] = promo.conversion
        promo_price[on] = promo.price
    intensity = trend * weekly * daily * promo_traffic
    intensity /= intensity.mean()
    cumulative = np.concatenate([[0.0], np.cumsum(intensity) / 24.0])
    return _Calendar(
        start_us=int(np.datetime64(start, "us").view("int64")),
        hours=np.arange(n_hours + 1, dtype=np.float64),
        cumulative=cumulative,
        promo_conversion=promo_conversion,
        promo_price=promo_price,
    )


def _session_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """UUID-looking session ids, fast: hex of random bytes cut into 8-4-4-4-12."""
    hexed = np.frombuffer(binascii.hexlify(rng.bytes(16 * n)), dtype="S32")
    raw = hexed.view(np.uint8).reshape(n, 32)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for src, dst, width in ((0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12)):
        out[:, dst : dst + width] = raw[:, src : src + width]
    return out.view("S36").ravel().astype(str)


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)[:-1]])


def _within_index(counts: np.ndarray) -> np.ndarray:
    """0..n-1 inside each segment of ``counts`` consecutive items."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(_segment_starts(counts), counts)


def _chunk(
    rng: np.random.Generator,
    first_user: int,
    n_users: int,
    cal: _Calendar,
    cat: _Catalogue,
    beh: Behaviour,
) -> pa.Table | None:
    # ---- users -----------------------------------------------------------
    u = rng.random(n_users)
    g = beh.growth
    grown = (-1 + np.sqrt(1 + 2 * g * u * (1 + g / 2))) / g  # linear-density inverse CDF
    early = rng.random(n_users) < beh.initial_share
    # existing customers began before the window; only their visits inside it are logged,
    # so they appear at their own steady rate instead of as a burst at the start
    arrival = np.where(early, -rng.random(n_users) * beh.history_days, grown * cal.total)
    rate = np.clip(rng.gamma(beh.visit_rate_shape, beh.visit_rate_scale, n_users), 0.01, 3.0)
    dropout = rng.beta(beh.dropout_a, beh.dropout_b, n_users)
    n_visits = np.minimum(rng.geometric(dropout), beh.max_visits)
    fav_cat = rng.choice(len(cat.cat_weight), size=n_users, p=cat.cat_weight)
    depth = 1.0 + rng.lognormal(np.log(3.0), 0.5, n_users)
    cart_p = rng.beta(1.2, 12.0, n_users)
    buy_p = rng.beta(4.0, 4.0, n_users)

    # ---- visits (sessions) in operational time -----------------------------
    user_of = np.repeat(np.arange(n_users), n_visits)
    k = _within_index(n_visits)
    fade = np.exp(-(n_visits[user_of] - 1 - k) / beh.fade_visits)
    gaps = rng.exponential(1.0, user_of.size) / rate[user_of] * (1 + beh.fade_gap * fade)
    gaps[k == 0] = 0.0
    cum = np.cumsum(gaps)
    cum -= np.repeat(cum[_segment_starts(n_visits)], n_visits)
    tau = arrival[user_of] + cum
    keep = (tau >= 0) & (tau < cal.total)
    user_of, tau, fade = user_of[keep], tau[keep], fade[keep]
    if user_of.size == 0:
        return None
    hour = np.interp(tau, cal.cumulative, cal.hours)
    hour_idx = np.minimum(hour.astype(np.int64), cal.promo_price.size - 1)
    n_sessions = user_of.size

    # ---- views -------------------------------------------------------------
    mean_views = np.maximum(depth[user_of] * (1 - beh.fade_depth * fade) - 1, 0.05)
    n_views = 1 + rng.negative_binomial(1.5, 1.5 / (1.5 + mean_views))
    sess_of = np.repeat(np.arange(n_sessions), n_views)
    favourite = rng.random(n_sessions) < beh.favourite_category
    sess_cat = np.where(
        favourite,
        fav_cat[user_of],
        rng.choice(len(cat.cat_weight), size=n_sessions, p=cat.cat_weight),
    )
    n_v = sess_of.size
    view_cat = np.where(
        rng.random(n_v) < beh.in_category,
        sess_cat[sess_of],
        rng.choice(len(cat.cat_weight), size=n_v, p=cat.cat_weight),
    )
    rank = np.floor(cat.cat_size[view_cat] * rng.random(n_v) ** 3).astype(np.int64)
    product = cat.cat_offset[view_cat] + rank
    view_gap = np.minimum(rng.exponential(beh.view_gap_seconds, n_v), 900.0)
    first_view = _segment_starts(n_views)
    view_gap[first_view] = 0.0
    offset = np.cumsum(view_gap)
    offset -= np.repeat(offset[first_view], n_views)
    last_view_offset = offset[first_view + n_views - 1]

    # ---- funnel: cart, remove, purchase -------------------------------------
    conv = cal.promo_conversion[hour_idx]
    sess_fade = fade[sess_of]
    carted = rng.random(n_v) < np.clip(cart_p[user_of][sess_of] * conv[sess_of], 0, 0.9)
    c_idx = np.flatnonzero(carted)
    cart_offset = offset[c_idx] + np.minimum(rng.exponential(15.0, c_idx.size), 120.0) + 2.0
    removed = rng.random(c_idx.size) < 0.12 + beh.fade_remove * sess_fade[c_idx]
    r_idx = c_idx[removed]
    remove_offset = cart_offset[removed] + np.minimum(rng.exponential(90.0, r_idx.size), 240.0) + 5
    kept = c_idx[~removed]
    buy_chance = np.clip(buy_p[user_of] * conv * (1 - beh.fade_buy * fade), 0, 0.95)
    session_buys = rng.random(n_sessions) < buy_chance
    p_idx = kept[session_buys[sess_of[kept]]]
    p_sess = sess_of[p_idx]
    purchase_offset = (
        last_view_offset[p_sess]
        + 400.0
        + rng.exponential(60.0, p_idx.size)
        + 3.0 * _within_index(np.bincount(p_sess, minlength=n_sessions))
    )

    # ---- assemble ----------------------------------------------------------
    src = np.concatenate([np.arange(n_v), c_idx, r_idx, p_idx])  # the view each event follows
    etype = np.repeat(
        np.array(["view", "cart", "remove_from_cart", "purchase"], dtype=object),
        [n_v, c_idx.size, r_idx.size, p_idx.size],
    )
    off = np.concatenate([offset, cart_offset, remove_offset, purchase_offset])
    sess = sess_of[src]
    time_us = (cal.start_us + hour[sess] * _US_PER_HOUR + off * 1e6).astype(np.int64)
    time_us -= time_us % 1_000_000  # whole seconds, as real exports
    prod = product[src]
    noise = 1 + 0.03 * rng.standard_normal(n_v)
    view_price = np.round(cat.base_price[product] * cal.promo_price[hour_idx][sess_of] * noise, 2)
    price = np.maximum(view_price[src], 0.01)
    session_id = _session_ids(rng, n_sessions)

    dup = np.flatnonzero(rng.random(src.size) < beh.duplicate_share)
    rows = np.concatenate([np.arange(src.size), dup])
    user_ids = 512_000_000 + first_user + user_of[sess]
    order = np.lexsort((rows, user_ids[rows], time_us[rows]))
    rows = rows[order]
    return pa.table(
        {
            "event_time": pa.array(time_us[rows], pa.timestamp("us")),
            "event_type": pa.array(etype[rows], pa.string()),
            "product_id": pa.array(cat.product_id[prod[rows]]),
            "category_id": pa.array(cat.category_id[prod[rows]]),
            "category_code": pa.array(cat.category_code[prod[rows]], pa.string()),
            "brand": pa.array(cat.brand[prod[rows]], pa.string()),
            "price": pa.array(price[rows]),
            "user_id": pa.array(user_ids[rows].astype(np.int64)),
            "user_session": pa.array(session_id[sess[rows]], pa.string()),
        },
        schema=RAW_SCHEMA,
    )


def generate_events(
    path: str | Path,
    preset: str = "default",
    seed: int = 42,
    n_users: int | None = None,
    chunk_users: int = 25_000,
) -> GenerationSummary:
    """Write a synthetic log to ``path`` (Parquet), chunk by chunk; deterministic in ``seed``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown synthetic preset {preset!r}; choose one of {sorted(PRESETS)}")
    spec = PRESETS[preset]
    total_users = n_users or spec.n_users
    beh = Behaviour()
    root = np.random.SeedSequence(seed)
    n_chunks = -(-total_users // chunk_users)
    catalogue_seed, *chunk_seeds = root.spawn(n_chunks + 1)
    cat = _make_catalogue(np.random.default_rng(catalogue_seed), spec.n_products, beh)
    cal = _make_calendar(spec)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    rows = sessions = users = 0
    with pq.ParquetWriter(tmp, RAW_SCHEMA, compression="zstd") as writer:
        for i in range(n_chunks):
            first = i * chunk_users
            size = min(chunk_users, total_users - first)
            table = _chunk(np.random.default_rng(chunk_seeds[i]), first, size, cal, cat, beh)
            if table is None:
                continue
            writer.write_table(table, row_group_size=1 << 20)
            rows += table.num_rows
            sessions += int(pc.count_distinct(table["user_session"]).as_py())
            users += int(pc.count_distinct(table["user_id"]).as_py())
    tmp.replace(path)
    return GenerationSummary(
        path=path,
        rows=rows,
        users=users,
        sessions=sessions,
        start=spec.start,
        end=spec.end,
        preset=preset,
        seed=seed,
    )


def describe_generation(preset: str, seed: int, n_users: int | None = None) -> str:
    """Markdown telling readers plainly that the data is synthetic and how it was made."""
    spec = PRESETS[preset]
    beh = Behaviour()
    users = n_users or spec.n_users
    promos = ", ".join(
        f"{p.day:%Y-%m-%d} ({p.traffic:g}x traffic, {p.conversion:g}x conversion, "
        f"prices x{p.price:g})"
        for p in spec.promotions
        if spec.start <= p.day < spec.end
    )
    mean_visits_gap = 1 / (beh.visit_rate_shape * beh.visit_rate_scale)
    mean_lapse = beh.dropout_a / (beh.dropout_a + beh.dropout_b)
    return f"""\
**These data are synthetic.** They come from the book's embedded shop generator
(preset `{preset}`, seed `{seed}`), not from a real shop, so that
the book runs anywhere and every number can be reproduced. The same preset and seed give
the same file, byte for byte. How the log is made:

- **{users:,} users**: {beh.initial_share:.0%} are existing customers who began up to
  {beh.history_days:.0f} days before {spec.start:%Y-%m-%d} (only their visits inside the
  period are logged, so some never show up), the others arrive between
  {spec.start:%Y-%m-%d} and {spec.end:%Y-%m-%d}, more of them later (growth).
- Each user visits at a personal rate drawn from a gamma distribution (heavy-tailed across
  users; on average one visit every {mean_visits_gap:.0f} days) and, after each visit,
  lapses for good with a personal probability drawn from a beta distribution (on average
  {mean_lapse:.0%}): the BG/NBD story of customer churn.
- **Engagement fades before a user lapses**: over the last visits, gaps grow by up to
  {beh.fade_gap:.0%}, sessions get up to {beh.fade_depth:.0%} shorter, removals from the
  cart rise and purchases fall by up to {beh.fade_buy:.0%}. Churn is therefore predictable
  from behaviour, not only from recency.
- Sessions walk the funnel view -> cart -> (remove) -> purchase, mostly within the user's
  favourite of {len(CATEGORIES)} REES46-style categories; {spec.n_products:,} products
  have Zipf-like popularity and lognormal prices by category.
- Activity follows a trend, a weekly and a daily cycle, and promotion days:
  {promos or "none in this period"}.
- Like real exports, {beh.blank_category_code:.0%} of products have no `category_code`,
  {beh.blank_brand:.0%} no `brand`, and about {beh.duplicate_share:.2%} of rows are exact
  duplicates (ingestion drops and counts them).
"""

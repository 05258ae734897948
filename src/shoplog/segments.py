"""Segmentation and action: priority score, group comparisons, RFM and behaviour segments.

The priority of a user is the revenue the shop expects to lose with them: the calibrated
probability of going dormant times the revenue they are expected to bring in the next
horizon if they stay. Groups are compared feature by feature with Welch's t-test and the
Mann-Whitney U test, corrected with Benjamini-Hochberg across features, and described by
effect sizes with confidence intervals (Hedges' g, rank-biserial correlation), because
with tens of thousands of users almost every difference is "significant".
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from shoplog.eda import quantile_score

Z95 = float(stats.norm.ppf(0.975))


# --- value if retained -----------------------------------------------------------------


def fit_value_model(
    X_train: pd.DataFrame,
    spend_train: np.ndarray,
    X_valid: pd.DataFrame,
    spend_valid: np.ndarray,
    seed: int,
):
    """A LightGBM Tweedie regression of next-horizon spend on the anchor features.

    Fitted on the training anchors' retained users only (the value *if retained*);
    Tweedie because spend is zero for most users and skewed for the rest. Validation
    rows stop the boosting early, as they choose the other models."""
    import lightgbm as lgb

    model = lgb.LGBMRegressor(
        objective="tweedie",
        tweedie_variance_power=1.5,
        n_estimators=2000,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=50,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=2,
        verbose=-1,
    )
    model.fit(
        X_train,
        spend_train,
        eval_X=(X_valid,),
        eval_y=(spend_valid,),
        eval_metric="tweedie",
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )
    return model


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """How well ``predicted`` orders ``actual`` amounts: 1 is the perfect order, 0 random.

    The Gini of the cumulative-actual curve sorted by prediction, over that of the
    perfect order (ties in the prediction share their amounts evenly)."""
    actual = np.asarray(actual, dtype=float)

    def gini(score: np.ndarray) -> float:
        frame = pd.DataFrame({"s": score, "a": actual})
        per = frame.groupby("s", sort=True)["a"].agg(["sum", "size"]).iloc[::-1]
        # a tie block's amount spreads evenly over its rows (a linear piece of the curve)
        cum_rows = per["size"].cumsum().to_numpy()
        cum_amount = per["sum"].cumsum().to_numpy() / actual.sum()
        x = np.concatenate([[0.0], cum_rows / len(actual)])
        y = np.concatenate([[0.0], cum_amount])
        return float(np.trapezoid(y, x) - 0.5)

    return gini(np.asarray(predicted, dtype=float)) / gini(actual)


# --- priority --------------------------------------------------------------------------


def priority_score(p_churn: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Expected revenue lost: P(dormant) x revenue expected in the horizon if retained."""
    p = np.asarray(p_churn, dtype=float)
    v = np.asarray(value, dtype=float)
    if np.any((p < 0) | (p > 1)) or np.any(v < 0):
        raise ValueError("probabilities must lie in [0, 1] and values be non-negative")
    return p * v


def natural_break(values: np.ndarray) -> float:
    """The two-class Jenks break: the cut minimising the within-class sum of squares.

    Exact (one pass over the sorted values with cumulative sums); returns the smallest
    value of the upper class."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n < 2 or x[0] == x[-1]:
        raise ValueError("a natural break needs at least two distinct values")
    c1, c2 = np.cumsum(x), np.cumsum(x**2)
    k = np.arange(1, n)  # lower class = the first k values
    lower_ss = c2[k - 1] - c1[k - 1] ** 2 / k
    upper_ss = (c2[-1] - c2[k - 1]) - (c1[-1] - c1[k - 1]) ** 2 / (n - k)
    within = lower_ss + upper_ss
    # a cut only between distinct values, so ties stay in one class
    within[x[k] == x[k - 1]] = np.inf
    return float(x[int(np.argmin(within)) + 1])


def top_fraction_cut(values: np.ndarray, fraction: float) -> float:
    """The smallest value of the top ``fraction`` (ties at the cut are all included)."""
    x = np.sort(np.asarray(values, dtype=float))[::-1]
    n = max(1, round(fraction * len(x)))
    return float(x[n - 1])


# --- group comparison ------------------------------------------------------------------


def hedges_g(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Hedges' g of ``x`` against ``y`` with its 95% interval (Hedges and Olkin variance).

    The bias-corrected standardised mean difference with the pooled SD; the same
    formulas as statsmodels' ``effectsize_smd``."""
    n1, n2 = len(x), len(y)
    s = np.sqrt(((n1 - 1) * np.var(x, ddof=1) + (n2 - 1) * np.var(y, ddof=1)) / (n1 + n2 - 2))
    if s == 0:
        return (0.0, 0.0, 0.0) if np.mean(x) == np.mean(y) else (np.nan, np.nan, np.nan)
    n = n1 + n2
    g = (1 - 3 / (4 * n - 9)) * (np.mean(x) - np.mean(y)) / s
    se = np.sqrt(n / (n1 * n2) + g**2 / (2 * (n - 3.94)))
    return float(g), float(g - Z95 * se), float(g + Z95 * se)


def rank_biserial(u_x: float, n1: int, n2: int) -> tuple[float, float, float]:
    """Rank-biserial correlation from the Mann-Whitney U of ``x``, with a 95% interval.

    r = 2 U / (n1 n2) - 1 = 2 AUC - 1: the probability that a random ``x`` exceeds a
    random ``y`` minus the reverse. The interval is that of the AUC with the Hanley and
    McNeil (1982) variance, mapped to r and clipped to [-1, 1]."""
    a = u_x / (n1 * n2)
    q1, q2 = a / (2 - a), 2 * a**2 / (1 + a)
    var = (a * (1 - a) + (n1 - 1) * (q1 - a**2) + (n2 - 1) * (q2 - a**2)) / (n1 * n2)
    se = np.sqrt(max(var, 0.0))
    r = 2 * a - 1
    low, high = 2 * (a - Z95 * se) - 1, 2 * (a + Z95 * se) - 1
    return float(r), float(max(low, -1.0)), float(min(high, 1.0))


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (missing values stay missing)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return out


# what compare_groups reports for every feature, and for a testable one (else missing)
DESCRIBE_COLUMNS = (
    "feature",
    "n_group",
    "n_rest",
    "mean_group",
    "mean_rest",
    "median_group",
    "median_rest",
)
TEST_COLUMNS = (
    "t",
    "p_welch",
    "u",
    "p_mann_whitney",
    "hedges_g",
    "g_low",
    "g_high",
    "rank_biserial",
    "rb_low",
    "rb_high",
)


def compare_groups(
    table: pd.DataFrame, features: list[str], in_group: np.ndarray, alpha: float = 0.05
) -> pd.DataFrame:
    """Every feature, ``in_group`` rows against the others: tests, FDR and effect sizes.

    Missing values are left out per feature (their counts are in ``n_group``/``n_rest``);
    a feature constant in both groups cannot be tested and gets no p-value. A difference
    is *significant* when both tests' BH-adjusted p-values are below ``alpha``."""
    in_group = np.asarray(in_group, dtype=bool)
    if in_group.all() or not in_group.any():
        raise ValueError("both groups need at least one row")
    rows = []
    for name in features:
        col = table[name].to_numpy(dtype=float)
        x, y = col[in_group], col[~in_group]
        x, y = x[~np.isnan(x)], y[~np.isnan(y)]
        row = {
            "feature": name,
            "n_group": len(x),
            "n_rest": len(y),
            "mean_group": np.mean(x) if len(x) else np.nan,
            "mean_rest": np.mean(y) if len(y) else np.nan,
            "median_group": np.median(x) if len(x) else np.nan,
            "median_rest": np.median(y) if len(y) else np.nan,
        }
        testable = len(x) >= 2 and len(y) >= 2 and np.ptp(np.concatenate([x, y])) > 0
        if testable:
            t = stats.ttest_ind(x, y, equal_var=False)
            u = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
            g, g_lo, g_hi = hedges_g(x, y)
            r, r_lo, r_hi = rank_biserial(float(u.statistic), len(x), len(y))
            row.update(
                t=float(t.statistic),
                # no p-value when both groups are constant (zero variance): not testable
                p_welch=float(t.pvalue) if np.isfinite(t.pvalue) else np.nan,
                u=float(u.statistic),
                p_mann_whitney=float(u.pvalue),
                hedges_g=g,
                g_low=g_lo,
                g_high=g_hi,
                rank_biserial=r,
                rb_low=r_lo,
                rb_high=r_hi,
            )
        rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=[*DESCRIBE_COLUMNS, *TEST_COLUMNS])
    out["p_welch_bh"] = bh_adjust(out["p_welch"].to_numpy())
    out["p_mann_whitney_bh"] = bh_adjust(out["p_mann_whitney"].to_numpy())
    out["significant"] = (out["p_welch_bh"] < alpha) & (out["p_mann_whitney_bh"] < alpha)
    return out


def effect_label(g: float) -> str:
    """Cohen's words for |g|: negligible (< 0.2), small, medium (>= 0.5), large (>= 0.8)."""
    size = abs(g)
    if size < 0.2:
        return "negligible"
    if size < 0.5:
        return "small"
    return "medium" if size < 0.8 else "large"


def _number(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def plain_words(
    comparison: pd.DataFrame,
    descriptions: dict[str, str],
    group: str,
    rest: str,
    min_effect: float = 0.2,
) -> pd.DataFrame:
    """The significant differences of at least ``min_effect`` |g|, as sentences.

    Largest effects first; each row says which group has more or less of what (means
    and medians) and how large the difference is."""
    keep = comparison[comparison["significant"] & (comparison["hedges_g"].abs() >= min_effect)]
    keep = keep.reindex(keep["hedges_g"].abs().sort_values(ascending=False).index)
    rows = []
    for r in keep.itertuples():
        what = descriptions.get(r.feature, r.feature).rstrip(".")
        what = what[0].lower() + what[1:] if what else r.feature
        direction = "higher" if r.hedges_g > 0 else "lower"
        rows.append(
            {
                "Feature": r.feature,
                "In plain words": (
                    f"{direction.capitalize()} for {group} than {rest}: {what}, mean "
                    f"{_number(r.mean_group)} against {_number(r.mean_rest)} (medians "
                    f"{_number(r.median_group)} and {_number(r.median_rest)})."
                ),
                "Hedges' g [95% CI]": f"{r.hedges_g:+.2f} [{r.g_low:+.2f}, {r.g_high:+.2f}]",
                "Effect": effect_label(r.hedges_g),
                "Rank-biserial [95% CI]": (
                    f"{r.rank_biserial:+.2f} [{r.rb_low:+.2f}, {r.rb_high:+.2f}]"
                ),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "Feature",
            "In plain words",
            "Hedges' g [95% CI]",
            "Effect",
            "Rank-biserial [95% CI]",
        ],
    )


# --- RFM segments ----------------------------------------------------------------------

# The usual recency x frequency grid of RFM segments (scores 1-5, 5 = most recent / most
# frequent); every one of the 25 cells belongs to exactly one segment.
RFM_GRID = (
    (r"[1-2][1-2]", "Hibernating"),
    (r"[1-2][3-4]", "At risk"),
    (r"[1-2]5", "Can't lose them"),
    (r"3[1-2]", "About to sleep"),
    (r"33", "Need attention"),
    (r"[3-4][4-5]", "Loyal customers"),
    (r"41", "Promising"),
    (r"51", "New customers"),
    (r"[4-5][2-3]", "Potential loyalists"),
    (r"5[4-5]", "Champions"),
)
RFM_ORDER = tuple(name for _, name in RFM_GRID)


def rfm_segment(r: int, f: int) -> str:
    """The named segment of a recency and a frequency score (1-5 each)."""
    key = f"{r}{f}"
    for pattern, name in RFM_GRID:
        if re.fullmatch(pattern, key):
            return name
    raise ValueError(f"no RFM segment for recency {r} and frequency {f}")


def rfm_table(
    table: pd.DataFrame, recency: str, frequency: str, monetary: str, bins: int = 5
) -> pd.DataFrame:
    """R, F and M scores (quantiles within this table) and the R x F segment of each row.

    Recency is days since the last event (fewer is better); on a 5-point scale the
    segment names of the usual RFM grid apply, otherwise R and F are rescaled to it."""
    out = pd.DataFrame(index=table.index)
    out["R"] = quantile_score(table[recency], bins, higher_is_better=False)
    out["F"] = quantile_score(table[frequency], bins)
    out["M"] = quantile_score(table[monetary].fillna(0.0), bins)
    cells = range(1, bins + 1)
    lookup = {(r, f): rfm_cell(r, f, bins) for r in cells for f in cells}
    out["segment"] = pd.Categorical(
        [lookup[(a, b)] for a, b in zip(out["R"], out["F"], strict=True)],
        categories=list(RFM_ORDER),
    )
    return out


def rfm_cell(r: int, f: int, bins: int = 5) -> str:
    """The segment of recency and frequency scores on a 1..bins scale (rescaled to 1-5)."""
    return rfm_segment(int(np.ceil(r * 5 / bins)), int(np.ceil(f * 5 / bins)))


# --- behaviour clusters ----------------------------------------------------------------


@dataclass
class Clusters:
    """k-means on log-scaled, standardised behaviour features, with readable names."""

    features: list[str]
    k: int
    mean: np.ndarray
    scale: np.ndarray
    model: object
    # names[label] is the name of k-means' cluster ``label``; "C1" is the largest
    names: list[str]

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """The features as the clustering sees them (log1p, then z-scores)."""
        return (log_features(table, self.features) - self.mean) / self.scale

    def assign(self, table: pd.DataFrame) -> pd.Categorical:
        """The cluster name of every row (rows of any anchor: the fitted centres are kept)."""
        labels = self.model.predict(self.transform(table))
        return pd.Categorical([self.names[i] for i in labels], categories=sorted(self.names))


def log_features(table: pd.DataFrame, features: list[str]) -> np.ndarray:
    """log1p of the non-negative counts and amounts; missing values count as zero."""
    X = table[features].to_numpy(dtype=float)
    X = np.nan_to_num(X, nan=0.0)
    if (X < 0).any():
        bad = [f for f, neg in zip(features, (X < 0).any(axis=0), strict=True) if neg]
        raise ValueError(f"clustering features must be non-negative; {bad} are not")
    return np.log1p(X)


def standardised(
    table: pd.DataFrame, features: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The log features as z-scores, with the mean and scale used (a constant feature keeps
    scale 1, so it stays at 0 instead of dividing by zero)."""
    X = log_features(table, features)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    return (X - mean) / scale, mean, scale


def feasible_k(k_values: list[int], n_rows: int, n_sample: int) -> list[int]:
    """The numbers of clusters k-means and the silhouette can have for ``n_rows`` users
    (a silhouette needs fewer clusters than sampled users); none left is an error that
    names the key and values that fit."""
    ok = [k for k in k_values if 2 <= k < min(n_rows, n_sample)]
    if not ok:
        top = min(n_rows, n_sample) - 1
        fix = (
            f"set segments.k_values to numbers from 2 to {top}, e.g. --set segments.k_values=[2]"
            if top >= 2
            else "behaviour clusters need at least 3 scored users; use a longer log or window"
        )
        raise ValueError(
            f"segments.k_values {k_values}: k-means needs fewer clusters than users, and "
            f"only {n_rows:,} users are scored ({n_sample:,} in the silhouette sample): {fix}"
        )
    return ok


def choose_k(
    Z: np.ndarray, k_values: list[int], seed: int, sample: int = 5000
) -> tuple[int, pd.DataFrame]:
    """The k with the best silhouette (on a seeded sample of rows), and every k's score.

    Only the k in :func:`feasible_k` are tried; none is a parameter mistake, said so."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    k_values = feasible_k(k_values, len(Z), min(sample, len(Z)))
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(Z), min(sample, len(Z)), replace=False)
    scores = []
    for k in k_values:
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(Z)
        scores.append(
            {
                "k": k,
                "silhouette": float(silhouette_score(Z[rows], km.labels_[rows])),
                "inertia": float(km.inertia_),
            }
        )
    frame = pd.DataFrame(scores)
    best = int(frame.loc[frame["silhouette"].idxmax(), "k"])
    return best, frame


def fit_clusters(
    table: pd.DataFrame, features: list[str], k: int, seed: int, labels: dict[str, str]
) -> Clusters:
    """k-means with ``k`` clusters, named by their two most distinctive features.

    A cluster's name lists the features whose centre is furthest from the mean (in
    standard deviations), e.g. "high spend, high sessions"; ``labels`` gives short
    feature names. Clusters are numbered by size, largest first."""
    from sklearn.cluster import KMeans

    Z, mean, scale = standardised(table, features)
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(Z)
    sizes = np.bincount(km.labels_, minlength=k)
    rank = np.empty(k, dtype=int)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(1, k + 1)
    names = []
    for label, centre in enumerate(km.cluster_centers_):
        top = np.argsort(-np.abs(centre), kind="stable")[:2]
        words = [
            f"{'high' if centre[j] > 0 else 'low'} {labels.get(features[j], features[j])}"
            for j in top
        ]
        names.append(f"C{rank[label]}: " + ", ".join(words))
    return Clusters(features, k, mean, scale, km, names)


def top_categories(con, events, members: pd.DataFrame, start, end, n: int = 3) -> pd.Series:
    """The ``n`` most visited categories of each segment's users in ``[start, end)``.

    ``members`` has ``user_id`` and ``segment``; the scan runs in the engine and only the
    per-segment counts come back. Events without a category are not counted."""
    import ibis

    m = ibis.memtable(members[["user_id", "segment"]].astype({"segment": str}))
    e = events.filter(
        (events.event_time >= start) & (events.event_time < end) & events.category_code.notnull()
    )
    j = e.join(m, e.user_id == m.user_id)
    counts = con.execute(j.group_by(["segment", "category_code"]).aggregate(events=j.count()))
    out = {}
    for seg, part in counts.groupby("segment"):
        part = part.sort_values(["events", "category_code"], ascending=[False, True]).head(n)
        total = counts.loc[counts["segment"] == seg, "events"].sum()
        out[seg] = ", ".join(
            f"{c} ({e / total:.0%})"
            for c, e in zip(part["category_code"], part["events"], strict=True)
        )
    return pd.Series(out, name="top categories")


def risk_bands(p: np.ndarray, edges: tuple[float, ...]) -> pd.Categorical:
    """Predicted-risk bands from probability ``edges`` (e.g. (0.4, 0.7) gives three)."""
    bounds = [0.0, *edges, 1.0]
    labels = [f"{lo:.0%}-{hi:.0%}" for lo, hi in itertools.pairwise(bounds)]
    return pd.cut(np.asarray(p, dtype=float), bounds, labels=labels, include_lowest=True)


# --- campaign value --------------------------------------------------------------------


@dataclass(frozen=True)
class Campaign:
    """The assumptions of a retention campaign (money in the log's currency)."""

    contact_cost: float
    offer_cost: float
    uplift: float
    stayer_take_rate: float
    margin: float


def contact_value(
    churn: np.ndarray, value: np.ndarray, c: Campaign
) -> tuple[np.ndarray, np.ndarray]:
    """Expected profit and cost of contacting each user (Verbeke et al. 2012's structure).

    ``churn`` is P(dormant) for a forecast, or the observed 0/1 outcome for a backtest.
    A would-be churner is kept with probability ``uplift`` and then brings ``margin`` x
    ``value`` and takes the offer; a user who would have stayed anyway takes the offer
    with probability ``stayer_take_rate``; everyone contacted costs ``contact_cost``."""
    p = np.asarray(churn, dtype=float)
    v = np.asarray(value, dtype=float)
    cost = c.contact_cost + c.offer_cost * (p * c.uplift + (1 - p) * c.stayer_take_rate)
    gain = p * c.uplift * c.margin * v
    return gain - cost, cost


def _curve(n: int, steps: int, profit_at, cost_at) -> pd.DataFrame:
    """Profit, cost and ROI at ``steps`` equal shares of ``n`` users (K = 0 included)."""
    ks = np.unique(np.round(np.linspace(0, n, steps + 1)).astype(int))
    frame = pd.DataFrame(
        {"users": ks, "share": ks / n, "profit": profit_at(ks), "cost": cost_at(ks)}
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["roi"] = np.where(frame["cost"] > 0, frame["profit"] / frame["cost"], np.nan)
    return frame


def campaign_curve(
    order: np.ndarray, churn: np.ndarray, value: np.ndarray, c: Campaign, steps: int = 100
) -> pd.DataFrame:
    """Cumulative profit, cost and ROI when the first K users of ``order`` are contacted.

    ``order`` lists row positions, best first; K runs over ``steps`` equal shares."""
    profit, cost = contact_value(churn, value, c)
    cum_profit = np.concatenate([[0.0], np.cumsum(profit[order])])
    cum_cost = np.concatenate([[0.0], np.cumsum(cost[order])])
    return _curve(len(order), steps, cum_profit.__getitem__, cum_cost.__getitem__)


def random_curve(
    churn: np.ndarray, value: np.ndarray, c: Campaign, steps: int = 100
) -> pd.DataFrame:
    """The expected curve of contacting K users at random: K times the average user."""
    profit, cost = contact_value(churn, value, c)
    return _curve(len(profit), steps, lambda k: k * profit.mean(), lambda k: k * cost.mean())


def best_k(curve: pd.DataFrame) -> pd.Series:
    """The row of the curve with the highest profit (the smallest K among ties)."""
    return curve.loc[curve["profit"].idxmax()]


def ranking(score: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
    """Row positions by descending score, ties broken by user id (reproducible)."""
    frame = pd.DataFrame({"s": -np.asarray(score, dtype=float), "u": np.asarray(user_ids)})
    return frame.sort_values(["s", "u"], kind="stable").index.to_numpy()


# --- putting it together ---------------------------------------------------------------

KEEP_COLUMNS = ("user_id", "anchor", "split", "dormant", "purchase", "spend_next")


def priority_frame(rows: pd.DataFrame, churn, purchase, value_model) -> pd.DataFrame:
    """Calibrated P(dormant), P(purchase), value if retained and priority of every row.

    ``churn`` and ``purchase`` are loaded models (their cards' features are checked);
    the value model predicts on the churn card's features."""
    out = rows[[c for c in KEEP_COLUMNS if c in rows]].reset_index(drop=True)
    out["p_churn"] = churn.predict(rows, where="the rows to prioritise")
    out["p_purchase"] = purchase.predict(rows, where="the rows to prioritise")
    X = churn.check_features(rows, where="the rows to prioritise")
    out["value"] = np.clip(value_model.predict(X), 0.0, None)
    out["priority"] = priority_score(out["p_churn"], out["value"])
    out["log_priority"] = np.log1p(out["priority"])
    return out


def priority_cut(log_priority: np.ndarray, method: str, fraction: float) -> float:
    """The cut of the priority group on the log score: top ``fraction`` or the natural break."""
    if method == "natural_break":
        return natural_break(log_priority)
    if method == "top_fraction":
        return top_fraction_cut(log_priority, fraction)
    raise ValueError(f"unknown priority cut {method!r}; use top_fraction or natural_break")


def behaviour_features(settings: dict) -> dict[str, str]:
    """The clustering features (name -> short label) for the card's feature settings.

    Recency, tenure, and the longest window's activity, buying and breadth: the
    behaviour a marketer recognises, not every correlated variant of it."""
    w = max(settings["windows"])
    d, p = settings["distinct_window_days"], settings["profile_window_days"]
    return {
        "days_since_last_event": "days since last visit",
        "tenure_days": "tenure",
        f"sessions_{w}d": "sessions",
        f"active_days_{w}d": "active days",
        f"views_{w}d": "views",
        f"carts_{w}d": "carts",
        f"orders_{w}d": "orders",
        f"spend_{w}d": "spend",
        f"products_{d}d": "products seen",
        f"session_minutes_mean_{p}d": "session length",
    }


# the five numbers of the executive summary: (glued name, chapter whose JSON holds it)
SUMMARY_SOURCES = {
    "users_at_risk": ("10_priority", "users_at_risk"),
    "revenue_at_risk": ("10_priority", "revenue_at_risk"),
    "lift_at_k": ("06_models", "churn_kept_lift_at_k"),
    "recommended_k": ("12_targeting", "recommended_k"),
    "expected_roi": ("12_targeting", "expected_roi"),
}


def recommendation(n: dict) -> str:
    """The summary's one-paragraph recommendation, worded from the glued numbers ``n``."""
    if n["recommended_k"] == 0:
        return (
            f"Do not run a retention campaign with the current assumptions: no list size "
            f"earns more than it costs at an uplift of {n['uplift']:.0%}. "
            f"{n['users_at_risk']:,} users are still at risk, with "
            f"{n['revenue_at_risk']:,.0f} of revenue; a cheaper contact or offer, or a "
            "measured uplift above the assumed one, would change this (see the sensitivity "
            "table of the targeting chapter)."
        )
    return (
        f"Contact the {n['recommended_k']:,} users at the top of the priority list "
        f"({n['recommended_share']:.1%} of the active users) before the next "
        f"{n['horizon_days']} days run out. They were ranked by the revenue the shop expects "
        f"to lose with each of them. With an assumed uplift of {n['uplift']:.0%}, the "
        f"campaign is expected to return {n['expected_roi']:.0%} on its cost of "
        f"{n['expected_cost']:,.0f}. The churn model finds {n['lift_at_k']:.1f} times more "
        f"churners than random in its top {n['top_k']:.0%}. Keep a random holdout of the "
        "listed users uncontacted, so the next edition can use the measured uplift "
        "instead of the assumed one."
    )


def rows_at(
    table: pd.DataFrame, priority: pd.DataFrame, anchor, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The modelling rows and the priority scores of one anchor, aligned user by user.

    ``source`` names the priority file for the error when the two disagree (a priority
    table from another run)."""
    rows = table[table["anchor"].eq(anchor)].reset_index(drop=True)
    scores = priority[priority["anchor"].eq(anchor)].reset_index(drop=True)
    if not rows["user_id"].astype(str).equals(scores["user_id"].astype(str)):
        raise ValueError(
            f"{source}: the users at {anchor} differ from the modelling table; re-run the "
            "priority chapter"
        )
    return rows, scores

"""Group comparisons feature by feature: Welch and Mann-Whitney tests with
Benjamini-Hochberg control, and effect sizes with intervals (Hedges' g, rank-biserial),
because with tens of thousands of users almost every difference is "significant".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

Z95 = float(stats.norm.ppf(0.975))


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

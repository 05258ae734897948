"""Who the users are: RFM segments (one quantile rule, shared with exploration) and
k-means behaviour clusters with readable names.

Size: the RFM rule, the clusters and the profile both are read through share the saved
clustering card; at about 400 lines they stay one module.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shoplog.action.priority import now_and_then
from shoplog.behaviour.eda import quantile_score
from shoplog.files import atomic_write_bytes
from shoplog.modeling import artifacts

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


# --- the producer step -----------------------------------------------------------------

SEGMENTS_TASK = "segments"
SEGMENT_COLUMNS = ("user_id", "anchor", "R", "F", "M", "segment", "cluster")


def rfm_columns(settings: dict) -> tuple[str, str, str]:
    """Recency, frequency and monetary columns: days since the last event, and sessions
    and spend in the longest feature window."""
    w = max(settings["windows"])
    return "days_since_last_event", f"sessions_{w}d", f"spend_{w}d"


def assign_segments(
    rows: pd.DataFrame, clusters: Clusters, bins: int, settings: dict
) -> pd.DataFrame:
    """R, F, M, the RFM segment and the behaviour cluster of every row (the RFM scores are
    quantiles among these rows; the clusters are the fitted ones)."""
    out = rfm_table(rows, *rfm_columns(settings), bins=bins)
    out["cluster"] = clusters.assign(rows)
    return out


@dataclass
class SegmentRun:
    """The segments step's result: rows and scores at the score anchor (``now``) and the
    last test anchor (``then``) with their segments, and the chosen clustering."""

    now_rows: pd.DataFrame
    now: pd.DataFrame
    then_rows: pd.DataFrame
    then: pd.DataFrame
    clusters: Clusters
    silhouettes: pd.DataFrame
    k_values: list[int]
    labels: dict[str, str]
    settings: dict
    score_anchor: pd.Timestamp
    test_anchor: pd.Timestamp


def risk_gap_sentence(profile: pd.DataFrame) -> str:
    """How far each segment's predicted risk is from its observed churn, averaged over
    users, as a sentence; says so when no segment has an observed rate to compare."""
    both = profile.dropna(subset=["Predicted risk", "Observed churn (test anchor)"])
    both = both[both["Users"] > 0]
    if both.empty:
        return (
            "No segment has users at the test anchor with an observed outcome, so predicted "
            "risk is not checked against observed churn here."
        )
    gap = (both["Predicted risk"] - both["Observed churn (test anchor)"]).abs()
    mean = float(np.average(gap, weights=both["Users"]))
    return (
        f"Predicted risk and observed churn differ by {mean:.1%} points on average over users "
        "(they are measured at two anchors, and small segments are noisy)."
    )


def build_segments(
    table: pd.DataFrame,
    priority_scores: pd.DataFrame,
    models_dir: str | Path,
    segments_path: str | Path,
    *,
    seed: int,
    bins: int,
    k_values: list[int],
    silhouette_sample: int,
    source: str = "priority.parquet",
) -> SegmentRun:
    """RFM segments and behaviour clusters of the users at the score anchor, applied also
    at the last test anchor; the clustering is saved with a card (``shoplog target`` assigns
    new users with it) and the score anchor's segments are written to ``segments_path``."""
    card = artifacts.ModelCard.from_json(artifacts.card_path(models_dir, "churn"))
    settings = card.feature_settings["features"]
    at = now_and_then(table, priority_scores, source)
    now_rows, now, then_rows, then = at.now_rows, at.now, at.then_rows, at.then
    score_anchor, test_anchor = at.score_anchor, at.test_anchor
    labels = behaviour_features(settings)
    features = list(labels)
    Z, _, _ = standardised(now_rows, features)
    feasible = feasible_k(k_values, len(Z), min(silhouette_sample, len(Z)))
    best_k, silhouettes = choose_k(Z, feasible, seed, silhouette_sample)
    clusters = fit_clusters(now_rows, features, best_k, seed, labels)
    now = now.join(assign_segments(now_rows, clusters, bins, settings))
    then = then.join(assign_segments(then_rows, clusters, bins, settings))
    artifacts.save_model(
        clusters,
        artifacts.ModelCard(
            task=SEGMENTS_TASK,
            label="",
            model=f"k-means on standardised log features, k = {best_k}",
            features=features,
            threshold=0.0,
            calibration="none (clusters, not probabilities)",
            metrics={"silhouette": float(silhouettes["silhouette"].max())},
            validation={},
            training={"users": len(now_rows), "anchor": str(score_anchor.date())},
            data_fingerprint=artifacts.data_fingerprint(now_rows[features], np.zeros(0)),
            seed=seed,
            hyperparameters={
                "k": best_k,
                "k_values": feasible,
                "rfm_bins": bins,
                "silhouette_sample": silhouette_sample,
            },
            feature_settings=card.feature_settings,
            libraries=artifacts.library_versions(),
        ),
        models_dir,
    )
    written = now[list(SEGMENT_COLUMNS)].assign(
        segment=lambda d: d["segment"].astype(str), cluster=lambda d: d["cluster"].astype(str)
    )
    atomic_write_bytes(Path(segments_path), written.to_parquet(index=False))
    return SegmentRun(
        now_rows,
        now,
        then_rows,
        then,
        clusters,
        silhouettes,
        feasible,
        labels,
        settings,
        score_anchor,
        test_anchor,
    )


def profile(con, events, run: SegmentRun, column: str, top_n: int) -> pd.DataFrame:
    """Size, predicted risk, observed churn (test anchor), spend, revenue at risk, share in
    the priority group and most visited categories of every segment (or cluster)."""
    longest = max(run.settings["windows"])
    now = run.now
    g = now.assign(spend=run.now_rows[f"spend_{longest}d"].fillna(0)).groupby(column, observed=True)
    out = pd.DataFrame(
        {
            "Users": g.size(),
            "Share": g.size() / len(now),
            "Predicted risk": g["p_churn"].mean(),
            "Observed churn (test anchor)": run.then.groupby(column, observed=True)[
                "dormant"
            ].mean(),
            f"Mean spend ({longest} d)": g["spend"].mean(),
            "Revenue at risk": g["priority"].sum(),
            "In priority group": g["priority_group"].mean(),
        }
    )
    # a segment seen only at the test anchor has no users now (not a missing count)
    out["Users"] = out["Users"].fillna(0).astype("int64")
    out["Share"] = out["Share"].fillna(0.0)
    members = pd.DataFrame(
        {"user_id": now["user_id"].astype(str), "segment": now[column].astype(str)}
    )
    start = run.score_anchor - pd.Timedelta(days=run.settings["profile_window_days"])
    cats = top_categories(
        con, events, members, start.to_pydatetime(), run.score_anchor.to_pydatetime(), top_n
    )
    out["Most visited categories"] = cats.reindex(out.index.astype(str)).to_numpy()
    return out.reset_index(names="Segment")


def categories_sentence(profile: pd.DataFrame, column: str = "Most visited categories") -> str:
    """Whether the segments' most visited categories tell them apart, in words: when every
    segment lists the same categories, they say nothing about what to show each one."""
    lists = profile[column].dropna().astype(str)
    if lists.nunique() > 1:
        return "the most visited categories differ between segments and say what to show them"
    return (
        "every segment's most visited categories are the same, so the categories do not say "
        "what to show each segment"
    )

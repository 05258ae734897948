"""A small modelling table where churn depends on recency and activity (for model tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = [
    "days_since_last_event",
    "sessions_total",
    "spend_total",
    "views_7d",
    "tenure_days",
    "noise",
]


def churn_table(n_users: int = 1200, seed: int = 0, shuffle: bool = False) -> pd.DataFrame:
    """Users at three anchors (train, validation, test); churn depends on recency and activity."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, split in enumerate(("train", "validation", "test")):
        recency = rng.exponential(10, n_users)
        sessions = rng.poisson(5, n_users)
        logit = 0.15 * recency - 0.4 * sessions - 0.5
        churn = (rng.random(n_users) < 1 / (1 + np.exp(-logit))).astype(float)
        frames.append(
            pd.DataFrame(
                {
                    "user_id": [f"u{u}" for u in range(n_users)],
                    "anchor": pd.Timestamp("2020-01-01") + pd.Timedelta(weeks=6 * i),
                    "split": split,
                    "days_since_last_event": recency,
                    "sessions_total": sessions,
                    "spend_total": rng.gamma(2, 50, n_users) * (sessions > 2),
                    "views_7d": rng.poisson(3, n_users) + (recency < 7) * 3,
                    "tenure_days": recency + rng.gamma(2, 30, n_users),
                    "noise": rng.normal(size=n_users),
                    "dormant": churn,
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    if shuffle:
        table["dormant"] = rng.permutation(table["dormant"].to_numpy())
    table.loc[table.index[:7], "dormant"] = np.nan  # unlabelled rows are dropped and counted
    return table

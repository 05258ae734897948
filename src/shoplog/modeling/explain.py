"""Explanations of a kept model: SHAP values, a surrogate tree, a feature-selection check.

SHAP values are those of the raw tree model, in its margin (log-odds) units: the
calibration on top is monotone, so it does not change which features push a customer
up or down. Customers shown individually get pseudonyms derived from the seed, never
their ids.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier

from shoplog.modeling import metrics as M


def raw_model(model):
    """The fitted tree model inside calibration wrappers (the one SHAP can read)."""
    inner = model
    if hasattr(inner, "calibrated_classifiers_"):  # CalibratedClassifierCV
        inner = inner.calibrated_classifiers_[0].estimator
    if hasattr(inner, "estimator") and type(inner).__name__ == "FrozenEstimator":
        inner = inner.estimator
    if hasattr(inner, "steps"):
        raise TypeError(
            f"{type(inner.steps[-1][1]).__name__} sits in a pipeline; explanations need a "
            "tree model that reads the features directly (LightGBM, CatBoost)"
        )
    return inner


MISSING_WORD = "missing"


@dataclass
class Shap:
    """SHAP values (rows x features) of a sample, the base value and the rows explained."""

    values: np.ndarray
    base: float
    X: pd.DataFrame

    def explanation(self, labels: dict[str, str] | None = None):
        """As a ``shap.Explanation`` for shap's plots: features named by ``labels`` (plain
        names, see ``contract.feature_labels``) where given, and a missing value shown as
        "missing" rather than "nan" (``display_data``)."""
        import shap

        data = self.X.to_numpy(dtype=float)
        shown = np.array(
            [[MISSING_WORD if np.isnan(v) else float(v) for v in row] for row in data],
            dtype=object,
        )
        names = [(labels or {}).get(c) or c for c in self.X.columns]
        return shap.Explanation(
            values=self.values,
            base_values=np.full(len(self.X), self.base),
            data=data,
            display_data=shown,
            feature_names=names,
        )

    def importance(self) -> pd.Series:
        """Mean |SHAP| per feature, largest first."""
        imp = pd.Series(np.abs(self.values).mean(axis=0), index=self.X.columns)
        return imp.sort_values(ascending=False, kind="stable")


def shap_values(model, X: pd.DataFrame) -> Shap:
    """Exact TreeSHAP values of the positive class (margin units) for the rows of ``X``."""
    import shap

    tree = raw_model(model)
    explainer = shap.TreeExplainer(tree)
    with warnings.catch_warnings():
        # shap announces a change of its LightGBM output format; the shapes are handled below
        warnings.filterwarnings(
            "ignore", message=".*output has changed to a list", category=UserWarning
        )
        values = np.asarray(explainer.shap_values(X))
    base = np.ravel(explainer.expected_value)
    if values.ndim == 3:  # (rows, features, classes): keep the positive class
        values, base = values[..., 1], base[1:]
    return Shap(values, float(base[-1]), X)


def top_reasons(sh: Shap, n: int = 3) -> list[str]:
    """Per row, the ``n`` features that raise the score most, as ``name=value (+shap)``."""
    order = np.argsort(-sh.values, axis=1, kind="stable")[:, :n]
    names = np.asarray(sh.X.columns)
    data = sh.X.to_numpy()
    out = []
    for i, cols in enumerate(order):
        parts = [
            f"{names[c]}={_short(data[i, c])} ({sh.values[i, c]:+.2f})"
            for c in cols
            if sh.values[i, c] > 0
        ]
        out.append("; ".join(parts))
    return out


def _short(value: float) -> str:
    if np.isnan(value):
        return "missing"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def pseudonym(user_id: str, seed: int) -> str:
    """A stable stand-in for a customer id (salted with the seed), safe to publish."""
    digest = hashlib.sha256(f"{seed}:{user_id}".encode()).hexdigest()
    return f"customer {digest[:6]}"


def example_customers(p: np.ndarray, threshold: float) -> dict[str, int]:
    """Row positions of a high-risk, a borderline (closest to the threshold) and a safe row."""
    p = np.asarray(p)
    return {
        "high risk": int(np.argmax(p)),
        "borderline": int(np.argmin(np.abs(p - threshold))),
        "safe": int(np.argmin(p)),
    }


@dataclass
class Surrogate:
    """A shallow decision tree imitating the model's decisions, and how often it agrees."""

    tree: DecisionTreeClassifier
    fidelity: float
    agreement_positive: float
    medians: pd.Series
    # the fidelity of a constant rule (flag everyone, or no one, whichever agrees more):
    # the floor a surrogate must beat to have learned anything
    constant_fidelity: float = float("nan")


def surrogate(
    X_fit: pd.DataFrame,
    decisions_fit: np.ndarray,
    X_check: pd.DataFrame,
    decisions_check: np.ndarray,
    depth: int,
    seed: int,
) -> Surrogate:
    """Fit a depth-``depth`` tree on the model's decisions (``X_fit``); its fidelity is the
    share of ``X_check`` rows where it decides as the model does. Missing values are
    filled with the training medians (trees of scikit-learn accept NaN, but the printed
    rules read better without a "missing" branch)."""
    medians = X_fit.median()
    tree = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=50, random_state=seed)
    tree.fit(X_fit.fillna(medians), decisions_fit)
    predicted = tree.predict(X_check.fillna(medians))
    positive = decisions_check == 1
    flagged = float(np.mean(positive))
    return Surrogate(
        tree,
        float(np.mean(predicted == decisions_check)),
        float(np.mean(predicted[positive] == 1)) if positive.any() else float("nan"),
        medians,
        max(flagged, 1 - flagged),
    )


def leaf_rules(sur: Surrogate, X: pd.DataFrame, decisions: np.ndarray) -> pd.DataFrame:
    """One row per leaf of the surrogate: its rule, the share of ``X`` rows it holds, the
    share of them the model flags, and the tree's decision there. Rules name the features
    by their plain labels ("Sessions, last 30 days ≤ 1.5")."""
    from shoplog.dataset.contract import feature_label

    tree = sur.tree.tree_
    names = [feature_label(c) for c in X.columns]
    filled = X.fillna(sur.medians)
    leaf_of = sur.tree.apply(filled)
    rows = []

    def walk(node: int, conditions: list[str]) -> None:
        if tree.children_left[node] == tree.children_right[node]:  # a leaf
            mask = leaf_of == node
            flagged = float(np.mean(decisions[mask])) if mask.any() else float("nan")
            rows.append(
                {
                    "rule": " and ".join(conditions) or "(all rows)",
                    "share": float(mask.mean()),
                    "flagged": flagged,
                    "decision": sur.tree.classes_[int(np.argmax(tree.value[node][0]))],
                }
            )
            return
        name, cut = names[tree.feature[node]], tree.threshold[node]
        walk(tree.children_left[node], [*conditions, f"{name} ≤ {cut:.3g}"])
        walk(tree.children_right[node], [*conditions, f"{name} > {cut:.3g}"])

    walk(0, [])
    return pd.DataFrame(rows)


def correlated_clusters(X: pd.DataFrame, threshold: float) -> pd.Series:
    """Cluster features whose |Spearman correlation| exceeds ``1 - threshold`` (average
    linkage on 1 - |rho|); returns each feature's cluster number."""
    rho = X.rank().corr().fillna(0).to_numpy()
    distance = 1 - np.abs(rho)
    np.fill_diagonal(distance, 0)
    distance = (distance + distance.T) / 2
    links = hierarchy.linkage(squareform(distance, checks=False), method="average")
    labels = hierarchy.fcluster(links, t=threshold, criterion="distance")
    return pd.Series(labels, index=X.columns, name="cluster")


def select_by_cluster(clusters: pd.Series, importance: pd.Series) -> list[str]:
    """One feature per cluster: the one with the largest mean |SHAP|, in input order."""
    best = importance.reindex(clusters.index).fillna(0).groupby(clusters).idxmax()
    keep = set(best)
    return [c for c in clusters.index if c in keep]


@dataclass
class SelectionCheck:
    """PR-AUC of the model refitted on the selected features against all of them, and the
    paired difference (selected minus all) on the same test resamples."""

    kept: list[str]
    dropped: list[str]
    validation_all: float
    validation_selected: float
    test_all: M.Interval
    test_selected: M.Interval
    test_difference: M.Interval


def selection_check(
    model,
    data,
    selected: list[str],
    top_k: float,
    n_boot: int,
    seed: int,
) -> SelectionCheck:
    """Refit the model's learner (same settings) on ``selected`` features only and compare
    validation and test PR-AUC (test with user-bootstrap intervals, and the paired
    difference on the same resamples). Choose ``selected`` on validation rows: a choice
    made on test rows would make the test comparison optimistic."""
    tree = raw_model(model)
    full = clone(tree).fit(data.X["train"], data.y["train"])
    less = clone(tree).fit(data.X["train"][selected], data.y["train"])
    out = []
    for est, cols in ((full, list(data.X["train"].columns)), (less, selected)):
        p_val = est.predict_proba(data.X["validation"][cols])[:, 1]
        p_test = est.predict_proba(data.X["test"][cols])[:, 1]
        point, draws = M.bootstrap_draws(
            data.y["test"], p_test, data.users["test"], 0.5, top_k, n_boot, seed
        )
        out.append((M.pr_auc(data.y["validation"], p_val), point["pr_auc"], draws["pr_auc"]))
    (val_all, est_all, d_all), (val_sel, est_sel, d_sel) = out
    dropped = [c for c in data.X["train"].columns if c not in selected]
    return SelectionCheck(
        selected,
        dropped,
        val_all,
        val_sel,
        M.percentile_interval(est_all, d_all),
        M.percentile_interval(est_sel, d_sel),
        M.paired_interval(est_sel, d_sel, est_all, d_all),
    )


def sample_positions(size: int, n: int, seed: int) -> np.ndarray:
    """A seeded sample of ``n`` row positions out of ``size`` (all when fewer), sorted:
    the same rows on every run."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(size, min(n, size), replace=False))

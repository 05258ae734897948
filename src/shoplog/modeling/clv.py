"""BG/NBD on purchase histories: per-customer summaries, maximum likelihood, log-likelihood.

Used to reproduce Fader, Hardie and Lee (2005), "Counting your customers the easy way",
on the CDNOW sample: the summary (repeat purchases, recency and age in weeks at the end
of the calibration period) is built from the raw transactions, the model is fitted by
pymc-marketing with flat priors (so its MAP estimate is the maximum-likelihood one of
the paper), and the log-likelihood is the paper's closed form (its equation 6).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy.special import betaln, gammaln

PARAMS = ("r", "alpha", "a", "b")


def transaction_summary(
    transactions: pd.DataFrame,
    customer: str,
    time: str,
    calibration_end: dt.date,
    unit_days: float = 7.0,
) -> pd.DataFrame:
    """Frequency, recency and T per customer, from transactions up to ``calibration_end``.

    Purchases on the same day count once (the paper's convention); ``frequency`` is the
    number of repeat purchase days, ``recency`` the time from the first to the last
    purchase and ``T`` from the first purchase to ``calibration_end``, in ``unit_days``."""
    days = pd.to_datetime(transactions[time]).dt.normalize()
    end = pd.Timestamp(calibration_end)
    frame = pd.DataFrame({"customer_id": transactions[customer].to_numpy(), "day": days})
    frame = frame[frame["day"] <= end].drop_duplicates()
    g = frame.groupby("customer_id", sort=True)["day"]
    first, last, n = g.min(), g.max(), g.size()
    unit = pd.Timedelta(days=unit_days)
    return pd.DataFrame(
        {
            "customer_id": first.index,
            "frequency": (n - 1).to_numpy(dtype=float),
            "recency": ((last - first) / unit).to_numpy(dtype=float),
            "T": ((end - first) / unit).to_numpy(dtype=float),
        }
    )


def bgnbd_log_likelihood(params: dict[str, float], summary: pd.DataFrame) -> float:
    """The BG/NBD log-likelihood of ``summary`` (Fader, Hardie and Lee 2005, eq. 6)."""
    r, alpha, a, b = (float(params[k]) for k in PARAMS)
    x = summary["frequency"].to_numpy(dtype=float)
    tx = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + tx), -np.inf)
    return float(np.sum(a1 + a2 + np.logaddexp(a3, a4)))


@contextlib.contextmanager
def quiet_pymc() -> Iterator[None]:
    """Silence pymc and pytensor's compile messages and warnings while fitting."""
    loggers = [logging.getLogger(n) for n in ("pymc", "pytensor", "pymc_marketing")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def fit_bgnbd(summary: pd.DataFrame, flat_priors: bool = True) -> dict[str, float]:
    """r, alpha, a, b fitted by pymc-marketing's MAP: with flat priors that is the paper's
    maximum likelihood; ``flat_priors=False`` keeps the library's default priors."""
    with quiet_pymc():  # pymc-marketing's import warns that notebook progress bars are missing
        from pymc_extras.prior import Prior
        from pymc_marketing.clv import BetaGeoModel

        config = {k: Prior("HalfFlat") for k in PARAMS} if flat_priors else None
        model = BetaGeoModel(model_config=config)
        model.fit(
            summary[["customer_id", "frequency", "recency", "T"]], method="map", progressbar=False
        )
    posterior = model.idata.posterior  # MAP: one chain of one draw, not rounded
    return {k: float(posterior[k].mean()) for k in PARAMS}


def read_cdnow(path: str, sample: bool) -> pd.DataFrame:
    """The CDNOW master file (header) or its 1/10 sample (no header, an extra index column)."""
    if sample:
        names = ["customer_id", "sample_index", "date", "number_of_cds", "dollar_value"]
        frame = pd.read_csv(path, sep=r"\s+", header=None, names=names, dtype={"date": str})
    else:
        frame = pd.read_csv(path, sep=r"\s+", dtype={"date": str})
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


def expected_repeat_purchases(params: dict[str, float], t: np.ndarray) -> np.ndarray:
    """E[X(t)]: repeat purchases a new customer is expected to make in ``t`` (eq. 7)."""
    from scipy.special import hyp2f1

    r, alpha, a, b = (float(params[k]) for k in PARAMS)
    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def conditional_expected_purchases(
    params: dict[str, float], summary: pd.DataFrame, t: float
) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: each customer's expected purchases in the next ``t`` (eq. 10)."""
    from scipy.special import hyp2f1

    r, alpha, a, b = (float(params[k]) for k in PARAMS)
    x = summary["frequency"].to_numpy(dtype=float)
    tx = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, t / (alpha + T + t)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        dead = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x), 0.0)
    return head * tail / (1 + dead)


def holdout_table(
    transactions: pd.DataFrame,
    customer: str,
    time: str,
    calibration_end: dt.date,
    holdout_end: dt.date,
    unit_days: float = 7.0,
) -> pd.DataFrame:
    """The calibration summary plus each customer's purchase days in the holdout period
    ``(calibration_end, holdout_end]`` (same-day purchases count once, as in calibration)."""
    summary = transaction_summary(transactions, customer, time, calibration_end, unit_days)
    days = pd.to_datetime(transactions[time]).dt.normalize()
    later = pd.DataFrame({"customer_id": transactions[customer].to_numpy(), "day": days})
    later = later[
        (later["day"] > pd.Timestamp(calibration_end)) & (later["day"] <= pd.Timestamp(holdout_end))
    ].drop_duplicates()
    counts = later.groupby("customer_id").size()
    summary["holdout"] = counts.reindex(summary["customer_id"]).fillna(0).to_numpy()
    summary["holdout_length"] = (
        pd.Timestamp(holdout_end) - pd.Timestamp(calibration_end)
    ) / pd.Timedelta(days=unit_days)
    return summary

"""The CLV pipeline with pymc-marketing (MAP fits): log -> summary -> BG/NBD -> Gamma-Gamma.

    benchmarks/.venv-bench/pymc/bin/python benchmarks/clv/run_pymc.py LOG.csv OUT.csv

Same steps and settings as `patron clv --model bgnbd --horizon-days 90`: days as the unit,
as-of the last order's day, P(alive), expected purchases over 90 days, CLV over 3 months at a
1% monthly discount. MAP fits, so the outputs are point estimates like Patron's.
"""

from __future__ import annotations

import sys
import warnings

import pandas as pd
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel
from pymc_marketing.clv.utils import rfm_summary

HORIZON_DAYS = 90


def main(log_path: str, out_path: str) -> None:
    warnings.simplefilter("ignore")
    orders = pd.read_csv(log_path, parse_dates=["ordered_at"], dtype={"customer_id": str})
    as_of = orders["ordered_at"].max().normalize()
    summary = rfm_summary(
        orders,
        "customer_id",
        "ordered_at",
        monetary_value_col="amount",
        observation_period_end=as_of,
        time_unit="D",
    )
    bgm = BetaGeoModel(data=summary[["customer_id", "frequency", "recency", "T"]])
    bgm.fit(method="map", progressbar=False)
    repeat = summary[summary["frequency"] > 0]
    ggm = GammaGammaModel(data=repeat[["customer_id", "monetary_value", "frequency"]])
    ggm.fit(method="map", progressbar=False)
    summary["p_alive"] = bgm.expected_probability_alive().values.ravel()
    summary["expected_purchases"] = bgm.expected_purchases(future_t=HORIZON_DAYS).values.ravel()
    summary["expected_avg_value"] = ggm.expected_customer_spend(data=summary).values.ravel()
    summary["clv"] = ggm.expected_customer_lifetime_value(
        transaction_model=bgm, data=summary, future_t=3, discount_rate=0.01, time_unit="D"
    ).values.ravel()
    summary.to_csv(out_path, index=False)
    params = {k: float(bgm.fit_result[k].values.ravel()[0]) for k in ("r", "alpha", "a", "b")}
    print(f"pymc-marketing: {len(summary):,} customers; BG/NBD {params}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""The CLV pipeline with lifetimes 0.11.3: log -> summary -> BG/NBD -> Gamma-Gamma -> scores.

    benchmarks/.venv-bench/lifetimes/bin/python benchmarks/clv/run_lifetimes.py LOG.csv OUT.csv

Same steps and settings as `patron clv --model bgnbd --horizon-days 90`: days as the unit,
as-of the last order's day, P(alive), expected purchases over 90 days, CLV over 3 months at a
1% monthly discount.
"""

from __future__ import annotations

import sys

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data

HORIZON_DAYS = 90


def main(log_path: str, out_path: str) -> None:
    orders = pd.read_csv(log_path, parse_dates=["ordered_at"], dtype={"customer_id": str})
    as_of = orders["ordered_at"].max().normalize()
    summary = summary_data_from_transaction_data(
        orders,
        "customer_id",
        "ordered_at",
        monetary_value_col="amount",
        observation_period_end=as_of,
        freq="D",
    )
    bgf = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[summary["frequency"] > 0]
    ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    summary["p_alive"] = bgf.conditional_probability_alive(
        summary["frequency"], summary["recency"], summary["T"]
    )
    summary["expected_purchases"] = bgf.conditional_expected_number_of_purchases_up_to_time(
        HORIZON_DAYS, summary["frequency"], summary["recency"], summary["T"]
    )
    summary["expected_avg_value"] = ggf.conditional_expected_average_profit(
        summary["frequency"], summary["monetary_value"]
    )
    summary["clv"] = ggf.customer_lifetime_value(
        bgf,
        summary["frequency"],
        summary["recency"],
        summary["T"],
        summary["monetary_value"],
        time=3,
        discount_rate=0.01,
        freq="D",
    )
    summary.to_csv(out_path)
    print(f"lifetimes: {len(summary):,} customers; BG/NBD {bgf.params_.to_dict()}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

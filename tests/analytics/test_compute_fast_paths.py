"""The scoring run's faster paths give exactly what the straightforward ones gave.

The holdout split read through a view over the run's orders, churn drivers built once per
distinct code and lunar birthdays converted once per distinct text are each checked value for
value against the way they were computed before (a copy of the orders into their own log, a
join per customer, a conversion per customer); the churn model's inputs as of its two earlier
moments, taken in one pass, against the feature query run as of each; the Newton finish of the
warm-started fits against L-BFGS-B where a parameter sits at its bound, where the sum is
rounding noise and from a start near the optimum (a run's final fit); the churn model and the
offers computed beside the purchase models, on a second connection, against the same steps
run one after the other on one connection.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from patron.analytics import bgnbd, churn, features, fitting, occasions, pipeline, pnbd
from patron.analytics.pipeline import _purchase_log
from patron.analytics.recommend import recommend
from patron.analytics.summary import OrderLog
from patron.errors import InvalidInput


def _orders(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = 4000
    # Times on both sides of 1970 and of the cut, several orders a day, refunds among them.
    return {
        "customer_id": rng.integers(1, 300, rows).astype(np.int64),
        "ts": rng.integers(-200 * 86400, 400 * 86400, rows).astype(np.int64),
        "amount": np.round(rng.gamma(2.0, 40.0, rows), 2),
        "status": rng.choice(np.array(["paid", "paid", "paid", "refunded"], dtype=object), rows),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_holdout_split_through_the_view_equals_the_copied_log(seed: int) -> None:
    orders = _orders(seed)
    con = duckdb.connect()
    con.register("incoming", orders)
    con.execute("CREATE TABLE orders AS SELECT * FROM incoming")
    moment = datetime(1970, 12, 31, 23, 59, 59, 999_999)
    cut_seconds = int((moment - datetime(1970, 1, 1)).total_seconds())
    paid = (orders["status"] == "paid") & (orders["ts"] <= cut_seconds)
    copied = OrderLog.from_arrays(
        orders["customer_id"][paid],
        orders["ts"][paid].astype("datetime64[s]"),
        orders["amount"][paid],
    )
    viewed = _purchase_log(con, moment)
    for cut in (date(1970, 3, 1), date(1970, 10, 2)):
        a, b = copied.split(moment, cut), viewed.split(moment, cut)
        for name in ("customer_id", "frequency", "recency", "T"):
            np.testing.assert_array_equal(
                getattr(a.calibration, name), getattr(b.calibration, name), err_msg=name
            )
        # DuckDB's threads may add a customer's day totals in another order: the copied log
        # itself differs from run to run in the last bit of a mean spend.
        np.testing.assert_allclose(
            a.calibration.monetary_value, b.calibration.monetary_value, rtol=1e-14, atol=0
        )
        np.testing.assert_array_equal(a.holdout_purchases, b.holdout_purchases)
        assert a.holdout_days == b.holdout_days
    assert copied.first_day(moment) == viewed.first_day(moment)


def test_drivers_equal_the_per_customer_join() -> None:
    rng = np.random.default_rng(7)
    design = rng.normal(size=(3000, len(churn.INPUT_NAMES)))
    design[:, 3] = 0.0  # a flat input: ties among the contributions
    labels = (design[:, 0] + rng.normal(size=3000) > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(design, labels)
    # Rows where no input, or exactly one, pushes the risk up.
    scaler, sign = model[0], np.sign(model[-1].coef_[0])
    against = scaler.mean_ - 3 * sign * scaler.scale_
    one_up = np.tile(against, (len(sign), 1))
    one_up[np.arange(len(sign)), np.arange(len(sign))] *= -1
    design = np.vstack([design, against, one_up])
    contributions = scaler.transform(design) * model[-1].coef_[0]
    top = np.argsort(-contributions, axis=1, kind="stable")[:, : churn.TOP_DRIVERS]
    names = np.array(churn.INPUT_NAMES, dtype=object)
    positive = np.take_along_axis(contributions, top, axis=1) > 0
    chosen = np.where(positive, names[top], "")
    expected = [";".join(part for part in row if part) for row in chosen]
    assert churn._drivers(model, design).tolist() == expected
    assert {0, 2} <= {text.count(";") for text in expected if text} and "" in expected


def test_lunar_birthdays_equal_one_conversion_per_customer() -> None:
    today = date(2026, 6, 30)
    texts = np.array(
        ["08-15", None, "", "not a date", "闰04-10", "1990-08-15", "08-15", "12-30", "13-01"] * 50,
        dtype=object,
    )

    def one(text: object) -> float:
        if not text:
            return np.nan
        try:
            month, day, leap = occasions.parse_lunar(str(text))
            return float(occasions.lunar_days_until(month, day, today, leap))
        except InvalidInput:
            return np.nan

    expected = np.array([one(text) for text in texts])
    np.testing.assert_array_equal(occasions.lunar_birthdays_until(texts, today), expected)
    assert np.isnan(
        occasions.lunar_birthdays_until(np.array([None, ""], dtype=object), today)
    ).all()


def test_newton_finish_stops_at_a_bound_like_lbfgsb() -> None:
    """A parameter whose optimum lies beyond LOG_BOUND: the Newton steps hold it at the bound
    and converge on the others, instead of handing every pass back to L-BFGS-B."""
    centre = np.array([0.3, fitting.LOG_BOUND + 5.0, -1.0])
    weights = np.array([1.0, 2.0, 0.5])
    calls = {"full": 0}

    def objective(theta: np.ndarray, size: float) -> tuple[float, np.ndarray]:
        gap = theta - centre
        # A cross term so the curvature is not diagonal.
        value = -(weights @ gap**2 + 0.3 * gap[0] * gap[2]) * size
        gradient = -(2 * weights * gap + 0.3 * np.array([gap[2], 0.0, gap[0]])) * size
        return float(value), gradient

    def full(theta: np.ndarray) -> tuple[float, np.ndarray]:
        calls["full"] += 1
        return objective(theta, 1000.0)

    theta = fitting.maximise_warm(
        full,
        lambda t: objective(t, 10.0),
        np.zeros(3),
        model="test",
        size=1000.0,
        sample_size=10.0,
    )
    assert theta[1] == fitting.LOG_BOUND
    np.testing.assert_allclose(theta[[0, 2]], centre[[0, 2]], atol=1e-9)
    assert calls["full"] <= 3


def test_newton_finish_stops_where_the_sum_is_rounding_noise() -> None:
    """Over a million customers the log-likelihood's last digits can be noise (about 3e-4 of
    -3.8e7 on the demo data at 1M) and so can the gradient's, which then never falls under its
    tolerance: a step expected to gain less than that noise which then loses by noise ends the
    fit at the point before it, instead of handing it to thirty passes of L-BFGS-B."""
    centre = np.array([0.3, 2.0, -1.0])
    size, base = 1e6, -3.8e7
    calls = {"full": 0}

    def noise(theta: np.ndarray) -> float:
        # The same value at the same point, unrelated between points, in -1..1.
        return float(np.sin(theta @ np.array([1.3e7, 2.9e7, 0.7e7])) * 43758.5453 % 2 - 1)

    def objective(theta: np.ndarray, scale: float, rough: float) -> tuple[float, np.ndarray]:
        gap = theta - centre
        value = base * scale / size - (gap @ gap + 0.3 * gap[0] * gap[2]) * scale
        gradient = -(2 * gap + 0.3 * np.array([gap[2], 0.0, gap[0]])) * scale
        return value + 3e-4 * rough * noise(theta), gradient + 0.01 * rough * noise(-theta)

    def full(theta: np.ndarray) -> tuple[float, np.ndarray]:
        calls["full"] += 1
        return objective(theta, size, 1.0)

    theta = fitting.maximise_warm(
        full,
        lambda t: objective(t, 25_000.0, 0.0),
        np.zeros(3),
        model="test",
        size=size,
        sample_size=25_000.0,
    )
    np.testing.assert_allclose(theta, centre, atol=1e-7)
    assert calls["full"] <= 4


def _histories(customers: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pareto/NBD purchase histories (r 0.5, alpha 10, s 0.8, beta 200, in days), ages and
    recencies to a hundredth of a day: nearly all distinct."""
    rng = np.random.default_rng(seed)
    ages = rng.uniform(30.0, 700.0, customers).round(2)
    rate = rng.gamma(0.5, 1 / 10, customers)
    seen = np.minimum(rng.exponential(1 / rng.gamma(0.8, 1 / 200, customers)), ages)
    repeats = rng.poisson(rate * seen).astype(np.float64)
    last = seen * rng.beta(np.maximum(repeats, 1), 1.0)
    return repeats, np.where(repeats > 0, last.round(2), 0.0), ages


@pytest.mark.parametrize("model", ["bgnbd", "pnbd"])
def test_a_fit_started_near_its_optimum_finds_the_same_one(
    model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final fit of a run with `--model auto` starts from the same model's fit on the
    calibration period: Newton steps from there, without L-BFGS-B on the sample (or
    anywhere), reach the optimum found from the usual start."""
    module = {"bgnbd": bgnbd, "pnbd": pnbd}[model]
    monkeypatch.setattr(fitting, "WARM_SAMPLE", 2_500)  # the warm path from 10,000 histories
    x, t_x, ages = _histories(13_000, seed=7)
    assert fitting.sample_step(len(fitting.as_histories(x, t_x, ages).x)) is not None
    calibration = module.fit(x[:10_000], t_x[:10_000], ages[:10_000])
    usual = module.fit(x, t_x, ages)

    def no_lbfgsb(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("L-BFGS-B ran")

    monkeypatch.setattr(fitting, "maximise", no_lbfgsb)
    near = module.fit(x, t_x, ages, near=calibration)
    np.testing.assert_allclose(
        list(near.as_dict().values()), list(usual.as_dict().values()), rtol=1e-4
    )
    assert near.log_likelihood == pytest.approx(usual.log_likelihood, rel=1e-12)


def _random_store(seed: int) -> duckdb.DuckDBPyConnection:
    """Every table the feature query reads, at random around two cuts: customers created on
    both sides of them, orders of every status (NULL too), several a day, events on the cut
    days before and after the cut's time of day."""
    rng = np.random.default_rng(seed)
    con = duckdb.connect()
    customers, day = 400, 86_400
    start, end = 100 * day, 500 * day

    def times(rows: int) -> np.ndarray:
        return rng.integers(start, end, rows).astype(np.int64)

    def ids(rows: int) -> np.ndarray:
        # Ids past the customers too: events of customers no longer in the store.
        return rng.integers(1, customers + 20, rows).astype(np.int64)

    def table(name: str, columns: dict[str, np.ndarray]) -> None:
        # Customers from 250 on have their events from day 300 on only.
        if "ts" in columns:
            late = columns["customer_id"] >= 250
            columns["ts"] = np.where(
                late, 300 * day + (columns["ts"] - start) % (200 * day), columns["ts"]
            )
        con.register("incoming", columns)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
        con.unregister("incoming")

    n = 6000
    statuses = np.array(["paid", "paid", "paid", "refunded", "cancelled", None], dtype=object)
    table(
        "orders",
        {
            "customer_id": ids(n),
            # Several orders on one day: timestamps on a coarse grid of hours.
            "ts": (times(n) // 7200) * 7200,
            "amount": np.round(rng.gamma(2.0, 40.0, n), 2),
            "status": rng.choice(statuses, n),
            "channel": rng.choice(np.array(["web", "shop", None], dtype=object), n),
            "product_id": rng.integers(1, 5, n).astype(np.int64),
        },
    )
    table(
        "interactions",
        {
            "customer_id": ids(800),
            "ts": times(800),
            "is_follow_up": rng.integers(0, 2, 800).astype(np.int64),
        },
    )
    resolved = times(300).astype(float)
    resolved[rng.random(300) < 0.4] = np.nan
    closed = times(300).astype(float)
    closed[rng.random(300) < 0.5] = np.nan
    table(
        "tickets_raw",
        {
            "customer_id": ids(300),
            "ts": times(300),
            "kind": rng.choice(np.array(["complaint", "inquiry"], dtype=object), 300),
            "resolved_ts": resolved,
            "closed_ts": closed,
        },
    )
    con.execute(
        "CREATE TABLE tickets AS SELECT customer_id, ts, kind, CAST(resolved_ts AS BIGINT) "
        "AS resolved_ts, CAST(closed_ts AS BIGINT) AS closed_ts FROM tickets_raw"
    )
    # Answers at distinct times, so each customer's last one is one answer.
    table(
        "responses",
        {
            "customer_id": ids(500),
            "ts": start + rng.choice(end - start, 500, replace=False).astype(np.int64),
            "kind": rng.choice(np.array(["nps", "csat"], dtype=object), 500),
            "score": rng.integers(0, 11, 500).astype(np.int64),
        },
    )
    table(
        "points",
        {
            "customer_id": ids(2000),
            "ts": times(2000),
            "points": rng.integers(-50, 200, 2000).astype(np.int64),
        },
    )
    table(
        "tier_changes",
        {
            "customer_id": ids(50),
            "ts": times(50),
            "tier": rng.choice(np.array(["silver", "gold"], dtype=object), 50),
        },
    )
    table(
        "tags",
        {"customer_id": ids(300), "tag": rng.choice(np.array(["vip", "b2b"], dtype=object), 300)},
    )
    created = times(customers)
    # Most late customers were created late too; a few early, with no event before.
    created[260:] = np.maximum(created[260:], 300 * day)
    con.execute(
        "CREATE TABLE customers AS SELECT i AS customer_id, 'C' || i AS external_id, "
        "'name' AS name, $created[i] AS created_ts, 'person' AS kind, NULL AS gender, "
        "NULL AS province, NULL AS city, NULL::BIGINT AS owner_id, NULL AS owner, "
        "NULL::BIGINT AS owned_since_ts, 0 AS locked, NULL::BIGINT AS birthday_ts, "
        "NULL AS lunar_birthday, NULL AS current_grade, NULL AS current_stage "
        f"FROM range(1, {customers + 1}) t(i)",
        {"created": [0, *created.tolist()]},
    )
    return con


def _projected_feature_query(con: duckdb.DuckDBPyConnection, moment: datetime, table: str) -> None:
    """The model inputs as the churn model took them before: the feature query per cut."""
    select = ", ".join(f"CAST({sql} AS DOUBLE) AS {name}" for name, sql in churn.MODEL_INPUTS)
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT customer_id, {select} "
        f"FROM ({features.FEATURES_SQL})",
        features.feature_params(moment),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "moment",
    [datetime(1971, 3, 1, 23, 59, 59, 999_999), datetime(1971, 3, 1, 13, 30, 0)],
    ids=["end of day", "mid-day"],
)
def test_past_designs_in_one_pass_equal_the_feature_query_per_cut(
    seed: int, moment: datetime
) -> None:
    con = _random_store(seed)
    horizon = timedelta(days=90)
    train_cut, valid_cut = moment - 2 * horizon, moment - horizon
    churn._past_designs(con, train_cut, valid_cut)
    for cut, table in ((train_cut, "churn_train"), (valid_cut, "churn_valid")):
        _projected_feature_query(con, cut, "expected")
        expected = con.execute("SELECT * FROM expected ORDER BY customer_id").fetchnumpy()
        got = con.execute(f"SELECT * FROM {table} ORDER BY customer_id").fetchnumpy()
        assert 100 < len(expected["customer_id"]) <= 400
        assert list(got) == list(expected)
        for name, values in expected.items():
            # Equal to the last bit, NaN where the feature query gives NaN.
            np.testing.assert_array_equal(got[name], values, err_msg=name, strict=True)
        kinds = "SELECT typeof(COLUMNS(*)) FROM {} LIMIT 1"
        assert (
            con.execute(kinds.format(table)).fetchall()
            == con.execute(kinds.format("expected")).fetchall()
        )
    # The training rows are fewer: customers created between the cuts are not in them yet.
    train = con.execute("SELECT count(*) FROM churn_train").fetchone()
    valid = con.execute("SELECT count(*) FROM churn_valid").fetchone()
    assert train is not None and valid is not None and train[0] < valid[0]


def test_newton_finish_holds_a_bound_the_step_would_cross() -> None:
    """The sample's optimum puts a parameter at its bound where the full data's gradient
    points inwards but, through a flat direction shared with another parameter, the Newton
    step points outwards: the parameter is held and the others converge in a few passes (as
    Pareto/NBD's s and beta on a calibration period at 1M), instead of a clipped step that
    never converges and hands the fit to L-BFGS-B."""
    coupling = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.95], [0.0, 0.95, 1.0]])
    centre = np.array([0.3, fitting.LOG_BOUND + 2.0, -1.0])
    calls = {"full": 0}

    def objective(theta: np.ndarray, middle: np.ndarray, size: float) -> tuple[float, np.ndarray]:
        gap = theta - middle
        return float(-(gap @ coupling @ gap) * size), -2 * (coupling @ gap) * size

    def full(theta: np.ndarray) -> tuple[float, np.ndarray]:
        calls["full"] += 1
        return objective(theta, centre, 1000.0)

    theta = fitting.maximise_warm(
        full,
        lambda t: objective(t, centre + np.array([0.0, 0.0, 1.0]), 10.0),
        np.zeros(3),
        model="test",
        size=1000.0,
        sample_size=10.0,
    )
    reference = fitting.maximise(
        lambda t: objective(t, centre, 1000.0), np.zeros(3), model="test", size=1000.0
    )
    assert theta[1] == fitting.LOG_BOUND
    np.testing.assert_allclose(theta, reference, atol=1e-9)
    assert calls["full"] <= 3


def _shop(seed: int) -> duckdb.DuckDBPyConnection:
    """The random store with every customer created before their first event, and a catalogue
    of three of the four products ordered: a whole run can score it (the churn model trains)."""
    con = _random_store(seed)
    con.execute("UPDATE customers SET created_ts = 99 * 86400")
    con.execute(
        "CREATE TABLE products AS SELECT i AS product_id, 'P' || i AS product_code, "
        "'product ' || i AS product_name FROM range(1, 4) t(i)"
    )
    return con


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("moment", "method"),
    [
        (datetime(1971, 5, 10, 23, 59, 59, 999_999), "model"),
        (datetime(1971, 5, 10, 13, 30, 0), "model"),
        # Too little history before the training cut: the heuristic from the purchase model.
        (datetime(1970, 8, 1, 23, 59, 59, 999_999), "heuristic"),
    ],
)
def test_churn_and_offers_beside_the_purchase_models_equal_them_one_after_the_other(
    seed: int, moment: datetime, method: str
) -> None:
    con = _shop(seed)
    computed = pipeline.compute(con, moment, horizon_days=90, model="bgnbd")
    assert computed.models["churn"]["method"] == method
    got = con.execute(
        "SELECT customer_id, expected_purchases, churn_risk, churn_drivers, "
        "days_to_next_purchase, offers FROM features ORDER BY customer_id"
    ).fetchall()
    assert any(row[5] for row in got) and any(row[4] is not None for row in got)

    # The same steps one after the other on one connection, as the run took them before.
    alone = _shop(seed)
    features.compute_features(alone, moment)
    expected_purchases = np.array([row[1] for row in got], dtype=np.float64)
    risk = churn.model_risk(alone, moment, 90) or churn.heuristic_risk(expected_purchases, 90)
    recommend(alone, day=features.day_number(moment), cut=features.epoch_seconds(moment))
    expected = alone.execute(
        "SELECT f.customer_id, n.days_to_next_purchase, coalesce(o.offers, []) FROM features f "
        "JOIN next_purchase n USING (customer_id) LEFT JOIN offers o USING (customer_id) "
        "ORDER BY customer_id"
    ).fetchall()
    assert len(got) == len(expected) == len(risk.risk) > 300
    for row, other, p, drivers in zip(got, expected, risk.risk, risk.drivers, strict=True):
        assert (row[0], row[2], row[3]) == (other[0], p, drivers)
        assert row[4:] == other[1:]

"""`patron model fit` and `patron clv` run as real command lines in a child process."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from tests.analytics.test_clv import simulated_orders

SCORE_COLUMNS = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "p_alive",
    "expected_purchases",
    "expected_avg_value",
    "clv",
]


def patron(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "patron", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def order_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    orders = simulated_orders(3_000, seed=5)
    path = tmp_path_factory.mktemp("clv") / "orders.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "ordered_at", "amount"])
        stamps = np.datetime_as_string(orders["ordered_at"], unit="s")
        writer.writerows(zip(orders["customer_id"], stamps, orders["amount"], strict=True))
    return path


@pytest.mark.parametrize(
    ("model", "summary", "expected"),
    [
        (
            "bgnbd",
            "cdnow_customers_summary.csv",
            {"r": 0.24259, "alpha": 4.41353, "a": 0.79289, "b": 2.42575},
        ),
        (
            "pnbd",
            "cdnow_customers_summary.csv",
            {"r": 0.55328, "alpha": 10.5776, "s": 0.60621, "beta": 11.6679},
        ),
        (
            "gg",
            "cdnow_customers_summary_with_transactions.csv",
            {"p": 6.2488, "q": 3.7446, "gamma": 15.4477},
        ),
    ],
)
def test_model_fit_prints_the_params_as_json(
    data_dir: Path, model: str, summary: str, expected: dict[str, float]
) -> None:
    done = patron("model", "fit", "--model", model, "--summary", data_dir / summary, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"params", "log_likelihood"}
    assert result["params"] == pytest.approx(expected, rel=1e-3)


def test_clv_writes_one_row_per_customer(order_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    done = patron(
        "clv",
        order_log,
        "--out",
        out,
        "--as-of",
        "2024-06-29",
        "--horizon-days",
        "60",
        "--model",
        "auto",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["customers"] == 3000 and report["as_of"] == "2024-06-29"
    assert report["model"] in {"bgnbd", "pnbd"}
    assert report["params"]["comparison"]["chosen"] == report["model"]
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == SCORE_COLUMNS
    assert len({row["customer_id"] for row in rows}) == len(rows) == 3000
    assert all(0 <= float(row["p_alive"]) <= 1 and float(row["clv"]) >= 0 for row in rows)


def test_clv_as_of_keeps_later_orders_out(order_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "early.csv"
    done = patron("clv", order_log, "--out", out, "--as-of", "2023-03-01T12:00:00")
    assert done.returncode == 0, done.stderr
    assert "scored" in done.stdout and "as of 2023-03-01" in done.stdout
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert 0 < len(rows) < 3000
    assert max(int(row["T"]) for row in rows) <= 59


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clv", "{missing}", "--out", "{out}"], "no such file"),
        (["clv", "{bad}", "--out", "{out}"], "has no amount column"),
        (["clv", "{log}", "--out", "{out}", "--as-of", "someday"], "'someday' is not a date"),
        (
            ["model", "fit", "--model", "gg", "--summary", "{bad}", "--json"],
            "has no frequency column",
        ),
    ],
)
def test_errors_are_one_plain_line(
    order_log: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,ordered_at\nA,2024-01-01\n", encoding="utf-8")
    paths = {
        "missing": tmp_path / "absent.csv",
        "out": tmp_path / "o.csv",
        "bad": bad,
        "log": order_log,
    }
    done = patron(*[a.format(**paths) for a in args])
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_clv_writes_what_the_library_scores(order_log: Path, tmp_path: Path) -> None:
    """The command line's own process settings (its malloc tuning) leave the scores as they are."""
    from patron.analytics.clv_log import score_log_to_csv
    from patron.analytics.summary import OrderLog

    cli_out, library_out = tmp_path / "cli.csv", tmp_path / "library.csv"
    done = patron("clv", order_log, "--out", cli_out, "--as-of", "2024-06-29", "--json")
    assert done.returncode == 0, done.stderr
    scores = score_log_to_csv(
        OrderLog.from_csv(order_log), library_out, as_of=date(2024, 6, 29), horizon_days=90
    )
    cli, library = read_columns(cli_out), read_columns(library_out)
    assert cli["customer_id"] == library["customer_id"]
    for name in ("frequency", "recency", "T"):
        assert cli[name] == library[name]
    # DuckDB's threads add up a customer's spends in no fixed order, and the Gamma-Gamma fit
    # on those means stops where its tolerance says: the last digits may differ between runs.
    doubles = SCORE_COLUMNS[4:]
    numbers = {name: np.array(cli[name], dtype=np.float64) for name in doubles}
    expected = {name: np.array(library[name], dtype=np.float64) for name in doubles}
    np.testing.assert_allclose(numbers["monetary_value"], expected["monetary_value"], rtol=1e-14)
    for name in ("p_alive", "expected_purchases"):
        np.testing.assert_allclose(numbers[name], expected[name], rtol=1e-12, atol=0)
    for name in ("expected_avg_value", "clv"):
        np.testing.assert_allclose(numbers[name], expected[name], rtol=1e-6, atol=0)
    assert json.loads(done.stdout)["customers"] == scores.customers


def read_columns(path: Path) -> dict[str, list[str]]:
    """A scores file as its columns' text, in file order."""
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {name: [row[name] for row in rows] for name in SCORE_COLUMNS}

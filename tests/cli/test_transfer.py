from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.imports.files import ORDER_HEADER, orders, read_rejects, write_csv


def patron(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "patron", *args], capture_output=True, text=True, check=False
    )


def test_import_prints_the_summary_and_is_idempotent(db_url: str, tmp_path: Path) -> None:
    rows = [*orders(20), ["O999", "C1", "2024-13-01", "5", "paid", "web"]]
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    rejects = tmp_path / "bad.csv"
    first = patron(
        "--db", db_url, "import", "orders", str(path), "--rejects", str(rejects), "--json"
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"inserted": 20, "updated": 0, "unchanged": 0, "rejected": 1}
    assert first.stderr == "", "no progress bar with --json"
    assert [r["row_number"] for r in read_rejects(rejects)] == ["22"]
    second = patron("--db", db_url, "import", "orders", str(path), "--json")
    assert json.loads(second.stdout) == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 20,
        "rejected": 1,
    }
    human = patron("--db", db_url, "import", "orders", str(path), "--dry-run")
    assert human.returncode == 0, human.stderr
    assert "dry run" in human.stdout and "unchanged 20" in human.stdout
    assert "orders.rejects.csv" in human.stdout


def test_an_unreadable_file_is_one_plain_error(db_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", ["customer_id", "amount"], [["C1", "3"]])
    done = patron("--db", db_url, "import", "orders", str(path), "--json")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: the orders file has no ordered_at (下单时间) column; "
        "its headers are: customer_id, amount"
    ]
    wrong_kind = patron("--db", db_url, "import", "invoices", str(path))
    assert wrong_kind.returncode == 1 and "not an import kind" in wrong_kind.stderr


def test_export_with_locale_and_scores_without_a_run(db_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(3))
    assert patron("--db", db_url, "import", "orders", str(path), "--json").returncode == 0
    out = tmp_path / "export.csv"
    done = patron("--db", db_url, "export", "orders", str(out), "--locale", "zh_CN", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 3
    assert (
        out.read_text(encoding="utf-8-sig").splitlines()[0].startswith("订单号,客户编号,下单时间")
    )
    english = patron("--db", db_url, "export", "orders", str(out), "--locale", "en")
    assert english.returncode == 0 and "exported 3 orders rows" in english.stdout
    assert out.read_text(encoding="utf-8-sig").startswith("order_id,customer_id,ordered_at")
    scores = patron("--db", db_url, "export", "scores", str(tmp_path / "scores.xlsx"))
    assert scores.returncode == 1
    assert scores.stderr.strip() == "error: there are no scores yet: run `patron score` first"


def test_import_customers_blocks_or_warns_on_duplicates(db_url: str, tmp_path: Path) -> None:
    header = ["customer_id", "name", "phone"]
    seed = write_csv(tmp_path / "seed.csv", header, [["K1", "王五", "+86 13800138000"]])
    assert patron("--db", db_url, "import", "customers", str(seed), "--json").returncode == 0
    again = write_csv(tmp_path / "again.csv", header, [["N1", "王小五", "138-0013-8000"]])
    blocked = patron("--db", db_url, "import", "customers", str(again), "--json")
    assert json.loads(blocked.stdout) == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    [reject] = read_rejects(tmp_path / "again.rejects.csv")
    assert "existing customer 'K1': the same phone, in the public pool" in reject["reason"]
    report = tmp_path / "dups.csv"
    warned = subprocess.run(
        [
            sys.executable,
            "-m",
            "patron",
            "--db",
            db_url,
            "import",
            "customers",
            str(again),
            "--duplicates",
            str(report),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATRON_DEDUPE_IMPORT": "warn"},
    )
    assert warned.returncode == 0, warned.stderr
    assert "inserted 1" in warned.stdout
    assert f"possible duplicates imported: 1, listed in {report}" in warned.stdout
    assert "N1,K1,,phone,100.0,pool," in report.read_text(encoding="utf-8-sig")

"""The imports and reports pages in a real chromium: a GBK CSV with a bad row through preview,
progress, summary and the rejects download; the reports page and its XLSX export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from patron.customers.models import Customer
from patron.db import create_db_engine, session_factory
from tests.web.conftest import Server, screenshot, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ROWS = 400
BAD_ROW = 4  # the spreadsheet row (the header is row 1) whose name is missing


def _gbk_customers(path: Path) -> Path:
    """A GBK-encoded customers CSV with an extra column and one row without a name."""
    lines = ["客户编号,客户名称,手机,城市,会员来源"]
    for n in range(2, ROWS + 2):
        name = "" if n == BAD_ROW else f"导入客户{n}"
        lines.append(f"IMP{n:05d},{name},1380000{n:04d},上海,展会")
    path.write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    return path


def test_an_admin_imports_a_gbk_csv_and_downloads_its_rejects(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    page = signed_in(browser, server, "admin")
    page.goto("/imports")
    page.select_option("select[name=kind]", "customers")
    page.set_input_files("input[name=file]", str(_gbk_customers(tmp_path / "客户导入.csv")))
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("encoding")).to_have_text("gb18030")
    mapping = page.locator("#mapping")
    expect(mapping.locator("tr[data-header='客户名称'] code")).to_have_text("name")
    expect(mapping.locator("tr[data-header='会员来源']")).to_contain_text("custom field")
    expect(page.locator(f"#first-rows tr[data-row='{BAD_ROW}']")).to_contain_text("is empty")
    screenshot(page, "imports-preview")
    page.get_by_role("button", name="Run import").click()
    expect(page.locator("#import-preview progress")).to_be_visible()
    summary = page.locator("#import-summary")
    expect(summary.locator("[data-count=inserted]")).to_have_text(f"{ROWS - 1}")
    expect(summary.locator("[data-count=rejected]")).to_have_text("1")
    screenshot(page, "imports-summary")
    with page.expect_download() as caught:
        page.locator("#rejects-link").click()
    rejects = Path(caught.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(rejects)))
    assert rows[1][0] == f"IMP{BAD_ROW:05d}" and rows[1][-3:] == [
        str(BAD_ROW),
        "客户名称",
        "is empty",
    ]
    engine = create_db_engine(server.db_url)
    with session_factory(engine)() as session:
        imported = session.scalars(
            select(Customer.custom_fields).where(Customer.external_id.like("IMP%"))
        ).all()
    engine.dispose()
    assert len(imported) == ROWS - 1 and imported[0] == {"会员来源": "展会"}


def test_agents_do_not_see_the_imports_page(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "agent")
    page.goto("/")
    expect(page.locator("nav.nav a[href='/imports']")).to_have_count(0)
    expect(page.locator("nav.nav a[href='/reports']")).to_have_count(1)
    assert page.goto("/imports").status == 403  # type: ignore[union-attr]


@pytest.mark.parametrize("role", ["admin", "agent"])
def test_reports_show_and_export_to_xlsx(browser: Browser, server: Server, role: str) -> None:
    page = signed_in(browser, server, role)
    page.goto("/reports")
    periods = page.locator("#periods-table tbody tr")
    expect(periods).to_have_count(6)
    expect(page.locator("#report-grade table.breakdown")).to_be_visible()
    expect(page.locator("#report-owner table.breakdown")).to_be_visible()
    expect(page.locator("#cohort-table tbody tr").first).to_be_visible()
    owners = page.locator("#report-owner tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.key)"
    )
    if role == "agent":
        assert set(owners) <= {"demo-agent1", ""}
    screenshot(page, f"reports-{role}")
    with page.expect_download() as caught:
        page.locator("#export-xlsx").click()
    assert caught.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(Path(caught.value.path()).read_bytes()), read_only=True)
    assert book.sheetnames[0] == "KPIs by period" and "Cohorts" in book.sheetnames
    shown = list(book["KPIs by period"].iter_rows(values_only=True))
    assert len(shown) == 7
    first_active = periods.first.locator("[data-kpi=active_customers]").inner_text()
    assert f"{shown[1][1]:,}" == first_active.split()[0]
    exported = {row[0] for row in list(book["By owner"].iter_rows(values_only=True))[1:]}
    assert exported == {o or "—" for o in owners}


def test_reports_at_phone_width(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "manager", width=390)
    page.goto("/reports")
    expect(page.locator("#cohort-table tbody tr").first).to_be_visible()
    screenshot(page, "reports-phone")

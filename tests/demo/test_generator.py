from __future__ import annotations

import numpy as np
import phonenumbers
import pytest
from lunar_python import Solar

from patron.demo.generator import DemoChunk, generate
from patron.demo.profiles import RETURN_DAYS_AGO, SILENT_FROM_DAYS_AGO
from patron.demo.rhythm import STATUSES
from patron.errors import InvalidInput
from tests.demo.conftest import days_before_end, make_spec

USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def _tables(chunk: DemoChunk) -> dict[str, dict[str, np.ndarray]]:
    return {
        name: getattr(chunk, name)
        for name in ("customers", "orders", "interactions", "tickets", "responses", "tags")
    }


def _same(left: DemoChunk, right: DemoChunk) -> bool:
    for name, table in _tables(left).items():
        other = _tables(right)[name]
        if table.keys() != other.keys():
            return False
        for column, values in table.items():
            # Datetimes are compared as integers so that NaT equals NaT.
            mine = values.view(np.int64) if values.dtype.kind == "M" else values
            theirs = other[column].view(np.int64) if values.dtype.kind == "M" else other[column]
            if not np.array_equal(mine, theirs):
                return False
    return True


def test_same_seed_and_end_give_identical_data() -> None:
    first = list(generate(make_spec(customers=600)))
    again = list(generate(make_spec(customers=600)))
    assert len(first) == len(again) == 1
    assert _same(first[0], again[0])


def test_another_seed_gives_other_data() -> None:
    one = next(generate(make_spec(customers=600)))
    other = next(generate(make_spec(customers=600, seed=8)))
    assert not np.array_equal(one.customers["name"], other.customers["name"])
    assert one.orders["ordered_at"].size != other.orders["ordered_at"].size or not np.array_equal(
        one.orders["ordered_at"], other.orders["ordered_at"]
    )


def test_bad_options_are_refused_plainly() -> None:
    with pytest.raises(InvalidInput, match="--customers"):
        make_spec(customers=0)
    with pytest.raises(InvalidInput, match="--locale"):
        make_spec(locale="fr")


def _orders_by_profile(chunk: DemoChunk, profile: str) -> tuple[np.ndarray, np.ndarray]:
    """Customer indexes of one profile, and the days-ago of each of their orders."""
    members = np.flatnonzero(chunk.customers["profile"] == profile)
    mine = np.isin(chunk.orders["customer"], members)
    return members, chunk.orders["customer"][mine]


def _last_and_first(chunk: DemoChunk) -> tuple[np.ndarray, np.ndarray]:
    n = chunk.customers["number"].size
    ago = days_before_end(chunk.orders["ordered_at"])
    last = np.full(n, np.inf)
    first = np.full(n, -np.inf)
    np.minimum.at(last, chunk.orders["customer"], ago)
    np.maximum.at(first, chunk.orders["customer"], ago)
    return last, first


def test_every_customer_buys_at_least_once_and_never_after_the_end(chunk: DemoChunk) -> None:
    last, _ = _last_and_first(chunk)
    assert np.isfinite(last).all()
    assert (days_before_end(chunk.orders["ordered_at"]) >= 0).all()


def test_churned_customers_stopped_buying_long_ago(chunk: DemoChunk) -> None:
    last, _ = _last_and_first(chunk)
    churned = chunk.customers["profile"] == "churned"
    assert churned.sum() > 100
    assert (last[churned] >= 119).all()


def test_new_customers_first_bought_recently(chunk: DemoChunk) -> None:
    _, first = _last_and_first(chunk)
    new = chunk.customers["profile"] == "new"
    assert (first[new] <= 61).all()
    older = ~new
    assert np.median(first[older]) > 300


def test_won_back_customers_paused_then_returned(chunk: DemoChunk) -> None:
    ago = days_before_end(chunk.orders["ordered_at"])
    who = chunk.orders["customer"]
    for customer in np.flatnonzero(chunk.customers["profile"] == "won_back")[:40]:
        days = np.sort(ago[who == customer])[::-1]  # oldest first
        assert days[-1] <= RETURN_DAYS_AGO[1] + 1  # bought again recently
        gaps = -np.diff(days)
        assert gaps.max() >= SILENT_FROM_DAYS_AGO[0] - RETURN_DAYS_AGO[1] - 1


def test_declining_customers_gaps_lengthen(chunk: DemoChunk) -> None:
    ago = days_before_end(chunk.orders["ordered_at"])
    who = chunk.orders["customer"]
    early, late = [], []
    for customer in np.flatnonzero(chunk.customers["profile"] == "declining")[:60]:
        gaps = -np.diff(np.sort(ago[who == customer])[::-1])
        if gaps.size >= 4:
            half = gaps.size // 2
            early.append(gaps[:half].mean())
            late.append(gaps[half:].mean())
    assert len(early) > 30
    assert np.mean(late) > 2 * np.mean(early)


def test_loyal_customers_buy_most_and_spend_most(chunk: DemoChunk) -> None:
    counts = np.bincount(chunk.orders["customer"], minlength=chunk.customers["number"].size)
    loyal = chunk.customers["profile"] == "loyal"
    steady = chunk.customers["profile"] == "steady"
    assert counts[loyal].mean() > 1.5 * counts[steady].mean()
    amount = chunk.orders["amount_cents"]
    of_loyal = loyal[chunk.orders["customer"]]
    assert np.median(amount[of_loyal]) > np.median(amount[~of_loyal])


def test_a_few_orders_are_refunded_or_cancelled(chunk: DemoChunk) -> None:
    shares = np.bincount(chunk.orders["status"], minlength=3) / chunk.orders["status"].size
    assert shares[STATUSES.index("paid")] > 0.9
    assert 0.005 < shares[STATUSES.index("refunded")] < 0.06
    assert 0.005 < shares[STATUSES.index("cancelled")] < 0.05


def test_phones_are_valid_and_distinct(chunk: DemoChunk) -> None:
    phones = chunk.customers["phone"]
    assert np.unique(phones).size == phones.size
    for phone in phones[:300]:
        number = phonenumbers.parse(str(phone))
        assert phonenumbers.is_valid_number(number), phone
        assert phonenumbers.region_code_for_number(number) == "CN"


def test_english_phones_are_valid_us_numbers() -> None:
    customers = next(generate(make_spec(customers=300, locale="en"))).customers
    for phone in customers["phone"]:
        assert phonenumbers.is_valid_number(phonenumbers.parse(str(phone))), phone
    assert (customers["credit_code"] == "").all()
    assert (customers["lunar_birthday"] == "").all()


def test_companies_have_valid_credit_codes(chunk: DemoChunk) -> None:
    companies = chunk.customers["kind"] == "company"
    codes = chunk.customers["credit_code"][companies]
    assert codes.size > 100 and (chunk.customers["credit_code"][~companies] == "").all()
    for code in codes:
        assert len(code) == 18 and set(code) <= set(USCC)
        total = sum(USCC.index(c) * w for c, w in zip(code[:17], USCC_WEIGHTS, strict=True))
        assert USCC[(31 - total % 31) % 31] == code[17], code


def test_cities_lie_in_their_provinces(chunk: DemoChunk) -> None:
    from patron.demo.vocabulary import ZH_CN

    for province, city in zip(chunk.customers["province"], chunk.customers["city"], strict=True):
        assert city in ZH_CN.places[province]


def test_lunar_birthdays_match_the_solar_ones(chunk: DemoChunk) -> None:
    has_lunar = chunk.customers["lunar_birthday"] != ""
    assert has_lunar.sum() > 100
    for solar, lunar in list(
        zip(
            chunk.customers["birthday"][has_lunar],
            chunk.customers["lunar_birthday"][has_lunar],
            strict=True,
        )
    )[:80]:
        day = solar.astype(object)
        expected = Solar.fromYmd(day.year, day.month, day.day).getLunar()
        month = expected.getMonth()
        text = f"{'L' if month < 0 else ''}{abs(month):02d}-{expected.getDay():02d}"
        assert lunar == text


def test_some_customers_sit_in_the_public_pool(chunk: DemoChunk) -> None:
    agents = chunk.customers["agent"]
    assert 0.1 < (agents < 0).mean() < 0.5
    assert set(np.unique(agents[agents >= 0])) == {0, 1, 2}


def test_complaints_and_low_scores_come_from_fading_customers(chunk: DemoChunk) -> None:
    profile = chunk.customers["profile"]
    kinds = chunk.tickets["kind"]
    fading = np.isin(profile[chunk.tickets["customer"]], ["declining", "churned"])
    assert (kinds[fading] == "complaint").mean() > 2 * (kinds[~fading] == "complaint").mean()
    r = chunk.responses
    nps = r["kind"] == "nps"
    assert ((r["score"][nps] >= 0) & (r["score"][nps] <= 10)).all()
    csat = r["kind"] == "csat"
    assert ((r["score"][csat] >= 1) & (r["score"][csat] <= 5)).all()
    complainers = np.unique(chunk.tickets["customer"][kinds == "complaint"])
    by_complainer = np.isin(r["customer"], complainers)
    assert r["score"][nps & by_complainer].mean() < r["score"][nps & ~by_complainer].mean()


def test_responses_to_tickets_come_after_the_ticket_is_resolved(chunk: DemoChunk) -> None:
    r, t = chunk.responses, chunk.tickets
    linked = r["ticket"] >= 0
    assert linked.any()
    assert (r["answered_at"][linked] >= t["resolved_at"][r["ticket"][linked]]).all()
    assert (r["customer"][linked] == t["customer"][r["ticket"][linked]]).all()


def test_orders_per_customer_can_be_set() -> None:
    chunk = next(generate(make_spec(customers=3_000, orders_per_customer=5)))
    average = chunk.orders["customer"].size / 3_000
    assert 4.0 < average < 6.0

"""The demo data set: deterministic by seed and end date, generated in chunks of customers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from patron.demo import engagement, people, rhythm
from patron.demo import profiles as pf
from patron.demo.vocabulary import LOCALES, Vocabulary, vocabulary
from patron.errors import InvalidInput

Table = dict[str, np.ndarray]
CHUNK_CUSTOMERS = 50_000
MAX_CUSTOMERS = 20_000_000
COMPANY_SHARE = 0.12
# Share of each profile's customers left in the public pool (公海), by profile order.
POOL_SHARE = np.array([0.05, 0.2, 0.2, 0.45, 0.25, 0.3])
AGENTS = ("demo-agent1", "demo-agent2", "demo-agent3")
AGENT_TEAMS = (0, 0, 1)  # two agents in the first team, one in the second
# Every demo row's external id: a prefix and its number in the data set, from 1.
ID_FORMATS = {
    "customers": ("DEMO-C", 8),
    "orders": ("DEMO-O", 10),
    "interactions": ("DEMO-I", 10),
    "tickets": ("DEMO-T", 10),
    "responses": ("DEMO-R", 10),
}
DEMO_CUSTOMER_PREFIX = ID_FORMATS["customers"][0]


@dataclass(frozen=True)
class DemoSpec:
    """What to generate: how many customers, in which language, from which seed, up to when."""

    end: datetime
    customers: int = 5_000
    locale: str = "zh_CN"
    seed: int = 42
    orders_per_customer: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.customers <= MAX_CUSTOMERS:
            raise InvalidInput(f"--customers must be between 1 and {MAX_CUSTOMERS:,}")
        if self.locale not in LOCALES:
            raise InvalidInput(f"--locale must be one of {', '.join(LOCALES)}, not '{self.locale}'")
        if self.seed < 0:
            raise InvalidInput("--seed must be zero or a positive whole number")
        if self.orders_per_customer is not None and not 1.0 <= self.orders_per_customer <= 200:
            raise InvalidInput("--orders-per-customer must be between 1 and 200")


@dataclass(frozen=True)
class DemoChunk:
    """One slice of customers and everything that happened to them.

    `customer` columns hold indexes into this chunk's customers; `agent` columns index AGENTS.
    Each table's `number` column is its rows' place in the whole data set (for stable ids).
    """

    customers: Table
    orders: Table
    interactions: Table
    tickets: Table
    responses: Table
    tags: Table


def external_ids(table: str, numbers: np.ndarray) -> np.ndarray:
    """The stable external ids (`DEMO-C00000001` ...) of a table's rows."""
    prefix, width = ID_FORMATS[table]
    return people.join(prefix, people.digits(numbers + 1, width))


def end_moment(spec: DemoSpec) -> np.datetime64:
    """The data set's end as a NumPy moment."""
    return np.datetime64(spec.end.replace(microsecond=0), "s")


def _pilot_pace(spec: DemoSpec) -> float:
    """The rate multiplier that brings the average orders per customer to the requested one."""
    if spec.orders_per_customer is None:
        return 1.0
    rng = np.random.default_rng([spec.seed, 999_999])
    codes = pf.draw_profiles(rng, 20_000)
    timeline = rhythm.draw_timeline(rng, codes)
    low, high = 0.01, 100.0
    for _ in range(50):  # bisection on the expected count, which grows with the pace
        pace = (low * high) ** 0.5
        expected = rhythm.expected_orders(codes, timeline, pf.column("gap_days")[codes] / pace)
        low, high = (pace, high) if expected.mean() < spec.orders_per_customer else (low, pace)
    return float((low * high) ** 0.5)


def _draw_customers(
    rng: np.random.Generator,
    spec: DemoSpec,
    pools: people.Pools,
    words: Vocabulary,
    number: np.ndarray,
    codes: np.ndarray,
    timeline: rhythm.Timeline,
) -> Table:
    """Each customer's identity, place, owner and when they became a customer."""
    n = number.size
    end = end_moment(spec)
    company = rng.random(n) < COMPANY_SHARE
    female = ~company & (rng.random(n) < 0.5)
    pick = rng.integers(0, 1 << 30, size=(n, 4))
    name = np.where(
        company,
        pools.companies[pick[:, 0] % pools.companies.size],
        np.where(
            female,
            pools.female[pick[:, 1] % pools.female.size],
            pools.male[pick[:, 1] % pools.male.size],
        ),
    )
    zh = spec.locale == "zh_CN"
    phone = (
        people.cn_mobiles(rng, number, spec.seed)
        if zh
        else people.us_phones(rng, number, spec.seed)
    )
    email = people.join(
        pools.email_names[pick[:, 2] % pools.email_names.size],
        number.astype(str),
        "@",
        pools.email_domains[pick[:, 3] % pools.email_domains.size],
    )
    province, city, city_number = people.draw_places(rng, words, n)
    street = pools.streets[rng.integers(0, pools.streets.size, n)]
    birthday = people.draw_birthdays(rng, n)
    has_birthday = ~company & (rng.random(n) < 0.7)
    lunar = np.full(n, "", dtype="<U8")
    wants_lunar = has_birthday & (rng.random(n) < 0.25) if zh else np.zeros(n, bool)
    lunar[wants_lunar] = people.lunar_birthdays(birthday[wants_lunar])
    credit = np.full(n, "", dtype="<U18")
    credit[company & zh] = people.credit_codes(
        rng, people.region_codes(province[company & zh], city_number[company & zh])
    )
    pooled = rng.random(n) < POOL_SHARE[codes]
    created = rhythm.to_datetimes(rng, timeline.first_ago + rng.uniform(0, 30, n), end)
    owned_since = np.minimum(
        created + rng.integers(0, 20 * 86_400, n).astype("timedelta64[s]"),
        end.astype("datetime64[s]"),
    )
    return {
        "number": number,
        "profile": np.array([p.value for p in pf.PROFILES])[codes],
        "kind": np.where(company, "company", "person"),
        "name": name,
        "phone": phone,
        "email": np.where(rng.random(n) < 0.6, email, ""),
        "gender": np.where(company, "", np.where(female, "female", "male")),
        "birthday": np.where(has_birthday, birthday, np.datetime64("NaT", "D")),
        "lunar_birthday": lunar,
        "province": province,
        "city": city,
        "address": people.join(city, street) if zh else people.join(street, ", ", city),
        "industry": np.where(company, np.array(words.industries)[pick[:, 3] % 8], ""),
        "company": np.where(company, name, ""),
        "credit_code": credit,
        "source": np.array(words.sources)[rng.integers(0, len(words.sources), n)],
        "agent": np.where(pooled, -1, rng.integers(0, len(AGENTS), n)),
        "owned_since": np.where(pooled, np.datetime64("NaT", "s"), owned_since),
        "created_at": created,
        "spend_level": rng.lognormal(0.0, 0.35, n) * np.where(company, 3.0, 1.0),
        "channel": rng.integers(0, len(words.channels), n),
    }


def _draw_orders(
    rng: np.random.Generator,
    spec: DemoSpec,
    words: Vocabulary,
    customers: Table,
    codes: np.ndarray,
    timeline: rhythm.Timeline,
    pace: float,
) -> Table:
    """Orders following each profile's rhythm; most in the customer's favourite channel.

    Status, channel and product are small codes (into STATUSES, the vocabulary's channels and
    products): ten million orders stay compact and write fast.
    """
    customer, ago = rhythm.draw_days_ago(rng, codes, timeline, pace)
    n = customer.size
    favourite = customers["channel"][customer]
    channel = np.where(rng.random(n) < 0.7, favourite, rng.integers(0, len(words.channels), n))
    return {
        "customer": customer,
        "ordered_at": rhythm.to_datetimes(rng, ago, end_moment(spec)),
        "amount_cents": rhythm.draw_amount_cents(rng, codes, customer, customers["spend_level"]),
        "status": rhythm.draw_statuses(rng, n),
        "channel": channel.astype(np.int8),
        "product": rng.integers(0, len(words.products), n).astype(np.int8),
        "quantity": 1 + rng.poisson(0.4, n),
    }


def _number(table: Table, first: int) -> int:
    """Give a table's rows their place in the whole data set; return the next free number."""
    size = next(iter(table.values())).size
    table["number"] = np.arange(first, first + size, dtype=np.int64)
    return first + size


def generate(spec: DemoSpec) -> Iterator[DemoChunk]:
    """The whole data set, chunk by chunk; the same spec always yields the same rows."""
    words = vocabulary(spec.locale)
    pools = people.build_pools(spec.locale, spec.seed)
    pace = _pilot_pace(spec)
    end = end_moment(spec)
    next_number = {"orders": 0, "interactions": 0, "tickets": 0, "responses": 0}
    for chunk, first in enumerate(range(0, spec.customers, CHUNK_CUSTOMERS)):
        rng = np.random.default_rng([spec.seed, chunk])
        number = np.arange(first, min(first + CHUNK_CUSTOMERS, spec.customers), dtype=np.int64)
        codes = pf.draw_profiles(rng, number.size)
        timeline = rhythm.draw_timeline(rng, codes)
        customers = _draw_customers(rng, spec, pools, words, number, codes, timeline)
        orders = _draw_orders(rng, spec, words, customers, codes, timeline, pace)
        interactions = engagement.draw_interactions(
            rng, codes, timeline, customers["agent"], len(AGENTS), words, end
        )
        tickets = engagement.draw_tickets(rng, codes, timeline, len(AGENTS), words, end)
        complained = engagement.complainers(tickets, number.size)
        responses = engagement.draw_responses(rng, codes, orders, tickets, complained, words, end)
        store_first = customers["channel"] == 0
        tags = engagement.draw_tags(
            rng, codes, customers["kind"] == "company", store_first, complained, words
        )
        tables = {
            "orders": orders,
            "interactions": interactions,
            "tickets": tickets,
            "responses": responses,
        }
        for name, table in tables.items():
            next_number[name] = _number(table, next_number[name])
        linked = responses["ticket"] >= 0
        responses["ticket_number"] = np.where(
            linked, tickets["number"][np.where(linked, responses["ticket"], 0)], -1
        )
        yield DemoChunk(customers, orders, interactions, tickets, responses, tags)

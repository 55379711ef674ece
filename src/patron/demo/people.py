"""Who the demo customers are: names, phones, places, companies and birthdays.

Faker is asked for a few thousand values once; a million customers are then drawn from those
pools with NumPy, which keeps the large benchmark set fast and the output deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np
from faker import Faker
from lunar_python import LunarYear, Solar

from patron.demo.vocabulary import Vocabulary

POOL_SIZE = 2_000
CN_MOBILE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        133,
        135,
        136,
        137,
        138,
        139,
        150,
        151,
        152,
        155,
        156,
        157,
        158,
        159,
        166,
        176,
        177,
        178,
        180,
        181,
        182,
        183,
        185,
        186,
        187,
        188,
        189,
        191,
        198,
        199,
    ]
).astype(str)
US_AREA_CODES = np.array([212, 213, 206, 303, 305, 312, 404, 415, 512, 617, 646, 702]).astype(str)
CN_EMAIL_DOMAINS = np.array(["qq.com", "163.com", "126.com", "sina.com", "foxmail.com"])
# GB 32100-2015: the 31 characters of a unified social credit code and the check weights.
USCC_CHARS = np.array(list("0123456789ABCDEFGHJKLMNPQRTUWXY"))
USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])
ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])  # GB 11714 organisation code
PROVINCE_CODES = {
    "广东省": 44,
    "浙江省": 33,
    "江苏省": 32,
    "上海市": 31,
    "北京市": 11,
    "山东省": 37,
    "四川省": 51,
    "湖北省": 42,
    "福建省": 35,
    "河南省": 41,
    "湖南省": 43,
    "陕西省": 61,
    "天津市": 12,
    "重庆市": 50,
}
BIRTH_FROM, BIRTH_TO = np.datetime64("1955-01-01"), np.datetime64("2004-12-31")


@dataclass(frozen=True)
class Pools:
    """Fake values drawn once per data set; customers sample from them."""

    male: np.ndarray
    female: np.ndarray
    companies: np.ndarray
    streets: np.ndarray
    email_names: np.ndarray
    email_domains: np.ndarray


def build_pools(locale: str, seed: int) -> Pools:
    """Ask Faker (seeded) for a few thousand names, companies, streets and mailbox names."""
    fake = Faker(locale)
    fake.seed_instance(seed)

    def pool(make: object, size: int = POOL_SIZE) -> np.ndarray:
        assert callable(make)
        return np.array([make() for _ in range(size)])

    zh = locale == "zh_CN"
    domains = CN_EMAIL_DOMAINS if zh else pool(fake.free_email_domain, 20)
    # zh_CN street addresses end in a building letter; a house number reads more naturally.
    streets = (
        pool(lambda: f"{fake.street_name()}{fake.random_int(1, 999)}号")
        if zh
        else pool(fake.street_address)
    )
    return Pools(
        male=pool(fake.name_male),
        female=pool(fake.name_female),
        companies=np.unique(pool(fake.company)),
        streets=streets,
        email_names=pool(fake.user_name, 1_000),
        email_domains=domains,
    )


def join(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise string concatenation of arrays and constants."""
    out: np.ndarray = np.asarray(parts[0])
    for part in parts[1:]:
        out = np.strings.add(out, part)
    return out


def digits(values: np.ndarray, width: int) -> np.ndarray:
    """Integers as zero-padded decimal strings."""
    if values.size == 0:  # zfill cannot size an empty array
        return np.zeros(0, dtype=f"<U{width}")
    return np.strings.zfill(values.astype(np.int64).astype(str), width)


def scramble(index: np.ndarray, modulus: int, seed: int) -> np.ndarray:
    """A seed-dependent one-to-one map of customer numbers onto 0..modulus-1 (unique phones)."""
    return (index.astype(np.int64) * 61_803_399 + seed * 104_729) % modulus


def cn_mobiles(rng: np.random.Generator, index: np.ndarray, seed: int) -> np.ndarray:
    """Valid, distinct mainland mobile numbers in E.164."""
    prefix = CN_MOBILE_PREFIXES[rng.integers(0, CN_MOBILE_PREFIXES.size, index.size)]
    return join("+86", prefix, digits(scramble(index, 10**8, seed), 8))


def us_phones(rng: np.random.Generator, index: np.ndarray, seed: int) -> np.ndarray:
    """Valid, distinct US numbers in E.164 (exchange 200-999)."""
    area = US_AREA_CODES[rng.integers(0, US_AREA_CODES.size, index.size)]
    local = scramble(index, 800 * 10**4, seed)
    return join("+1", area, digits(200 + local // 10**4, 3), digits(local % 10**4, 4))


def credit_codes(rng: np.random.Generator, region: np.ndarray) -> np.ndarray:
    """Unified social credit codes (18 characters) whose check characters are correct."""
    n = region.size
    org = rng.integers(0, 10, size=(n, 8))
    org_check = 11 - (org @ ORG_WEIGHTS) % 11
    org_check = np.where(org_check == 11, 0, org_check)  # 10 is written X
    org_value = np.where(org_check == 10, np.flatnonzero(USCC_CHARS == "X")[0], org_check)
    region_digits = (region[:, None] // 10 ** np.arange(5, -1, -1)) % 10
    head = np.column_stack([np.full(n, 9), np.full(n, 1), region_digits, org, org_value])
    check = (31 - (head @ USCC_WEIGHTS) % 31) % 31
    chars = USCC_CHARS[np.column_stack([head, check])]
    return np.ascontiguousarray(chars).view("<U18").ravel()


def region_codes(provinces: np.ndarray, city_numbers: np.ndarray) -> np.ndarray:
    """Six-digit administrative codes: province, city, district 00."""
    lookup = np.vectorize(lambda p: PROVINCE_CODES.get(p, 11), otypes=[np.int64])
    return np.asarray(lookup(provinces) * 10_000 + (city_numbers + 1) * 100)


def draw_places(
    rng: np.random.Generator, words: Vocabulary, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Province, a city that lies in it, and the city's number within the province."""
    pairs = [(p, c, i) for p, cities in words.places.items() for i, c in enumerate(cities)]
    pick = rng.integers(0, len(pairs), size=n)
    table = np.array([(p, c) for p, c, _ in pairs])
    numbers = np.array([i for _, _, i in pairs])
    return table[pick, 0], table[pick, 1], numbers[pick]


def draw_birthdays(rng: np.random.Generator, n: int) -> np.ndarray:
    """Birthdays between 1955 and 2004."""
    span = int((BIRTH_TO - BIRTH_FROM).astype(int))
    return BIRTH_FROM + rng.integers(0, span + 1, size=n).astype("timedelta64[D]")


@lru_cache(maxsize=1)
def _lunar_months() -> tuple[np.ndarray, np.ndarray]:
    """Each lunar month from 1954 to 2005: its first solar day and its number (negative = leap)."""
    starts, numbers = [], []
    for year in range(1954, 2006):
        for month in LunarYear.fromYear(year).getMonths():
            if month.getYear() != year:
                continue
            first = Solar.fromJulianDay(month.getFirstJulianDay())
            starts.append(date(first.getYear(), first.getMonth(), first.getDay()).toordinal())
            numbers.append(month.getMonth())
    return np.array(starts), np.array(numbers)


def lunar_birthdays(birthdays: np.ndarray) -> np.ndarray:
    """The lunar month and day of solar birthdays, as `MM-DD` (a leap month as `LMM-DD`)."""
    starts, numbers = _lunar_months()
    ordinal = birthdays.astype("datetime64[D]").astype(np.int64) + date(1970, 1, 1).toordinal()
    which = np.searchsorted(starts, ordinal, side="right") - 1
    month = numbers[which]
    text = join(digits(np.abs(month), 2), "-", digits(ordinal - starts[which] + 1, 2))
    return np.where(month < 0, join("L", text), text)

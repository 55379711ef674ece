"""Duplicate checks (查重): which live customers a new or changed one probably is.

Keys are tried in the policy's order. Exact keys (credit code, phone, email) use indexed
look-ups; names are compared fuzzily with rapidfuzz, but only against a narrowed set of
customers (same city, or the same first name initials) fetched by the database.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from rapidfuzz import fuzz, process
from sqlalchemy.orm import Session

from patron.customers import normalise, repository
from patron.customers.models import CustomerKind
from patron.customers.repository import KeyRow
from patron.customers.schemas import DedupePolicy, MatchKey
from patron.errors import InvalidInput

# How many leading name initials two customers must share to be compared fuzzily.
PREFIX_LENGTH = 2


KEY_LABELS = {
    MatchKey.credit_code: "credit code",
    MatchKey.company: "company name",
    MatchKey.phone: "phone",
    MatchKey.email: "email",
    MatchKey.name_city: "name and city",
}


class Ownership(enum.StrEnum):
    mine = "mine"
    other = "other"
    pool = "pool"


class HasKeys(Protocol):
    @property
    def kind(self) -> CustomerKind: ...
    @property
    def name(self) -> str: ...
    @property
    def city(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def company(self) -> str | None: ...
    @property
    def credit_code(self) -> str | None: ...


def _or_none(call: Callable[[str], str], value: str | None) -> str | None:
    # A value that cannot be normalised cannot match anything; validation reports it elsewhere.
    if not value or not value.strip():
        return None
    try:
        return call(value) or None
    except InvalidInput:
        return None


def _credit_code(raw: str) -> str:
    return "".join(raw.split()).upper()


def person_form(name: str) -> str:
    """A person's name as fuzzy matching compares it."""
    return normalise.name(name).lower()


@dataclass(frozen=True)
class Candidate:
    """The normalised keys of one customer to check."""

    kind: CustomerKind
    name: str
    city: str | None = None
    phone: str | None = None
    email: str | None = None
    company: str | None = None
    credit_code: str | None = None

    @classmethod
    def of(cls, source: HasKeys) -> Candidate:
        """The keys of a schema, a model row or anything else with the key fields."""
        return cls(
            kind=CustomerKind(source.kind),
            name=normalise.name(source.name),
            city=_or_none(normalise.name, source.city),
            phone=_or_none(normalise.phone, source.phone),
            email=_or_none(normalise.email, source.email),
            company=_or_none(normalise.name, source.company),
            credit_code=_or_none(_credit_code, source.credit_code),
        )

    @property
    def company_name(self) -> str | None:
        """The name a company is known by; people have none for matching."""
        if self.kind != CustomerKind.company:
            return None
        return self.company or self.name

    @property
    def prefix(self) -> str:
        return normalise.initials(self.company_name or self.name)[:PREFIX_LENGTH]


@dataclass(frozen=True)
class Match:
    """One existing customer a candidate probably duplicates, and who holds it."""

    customer_id: int
    external_id: str
    name: str
    key: MatchKey
    score: float
    ownership: Ownership
    owner_id: int | None
    owner_name: str | None

    def describe(self) -> str:
        """A plain sentence naming the customer, the key and who holds it."""
        how = "the same" if self.score >= 100 else f"a similar ({self.score:.0f}%)"
        holder = {
            Ownership.mine: "owned by you",
            Ownership.other: f"owned by {self.owner_name or f'user {self.owner_id}'}",
            Ownership.pool: "in the public pool",
        }[self.ownership]
        return (
            f"customer '{self.name}' ({self.external_id}) has {how} "
            f"{KEY_LABELS[self.key]}, {holder}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The match as plain JSON-ready values."""
        return {
            "customer_id": self.customer_id,
            "external_id": self.external_id,
            "name": self.name,
            "key": self.key.value,
            "score": round(self.score, 1),
            "ownership": self.ownership.value,
            "owner_id": self.owner_id,
            "owner_name": self.owner_name,
        }


@dataclass(frozen=True)
class RowMatch:
    """A row of an import batch that repeats an earlier row of the same batch."""

    row: int
    earlier_row: int
    key: MatchKey
    score: float


@dataclass
class RowDuplicates:
    """Everything one batch row probably duplicates: existing customers and earlier rows."""

    existing: list[Match] = field(default_factory=list)
    within: list[RowMatch] = field(default_factory=list)


# (row index, customer id) -> (key, score), before ownership is attached.
_Hits = dict[tuple[int, int], tuple[MatchKey, float]]
_RowHits = dict[tuple[int, int], tuple[MatchKey, float]]


def _note(
    hits: _Hits, rank: Mapping[MatchKey, int], at: tuple[int, int], key: MatchKey, score: float
) -> None:
    # One result per pair: the key that comes first in the policy, then the best score.
    old = hits.get(at)
    if old is None or (rank[key], -score) < (rank[old[0]], -old[1]):
        hits[at] = (key, score)


def _blocked_pairs(
    left: Sequence[tuple[Any, str]],
    right: Sequence[tuple[Any, str]],
    scorer: Callable[..., float],
    threshold: float,
) -> Iterable[tuple[int, int, float]]:
    """(left index, right index, score) of same-block pairs scoring at least `threshold`.

    Each block is scored as one rapidfuzz cdist matrix, so no pair is compared in Python.
    """
    right_blocks: dict[Any, list[int]] = defaultdict(list)
    for index, (block, _) in enumerate(right):
        right_blocks[block].append(index)
    left_blocks: dict[Any, list[int]] = defaultdict(list)
    for index, (block, _) in enumerate(left):
        left_blocks[block].append(index)
    for block, lefts in left_blocks.items():
        rights = right_blocks.get(block)
        if not rights:
            continue
        scores = process.cdist(
            [left[i][1] for i in lefts],
            [right[j][1] for j in rights],
            scorer=scorer,
            score_cutoff=threshold,
            dtype=np.float32,
        )
        for a, b in zip(*np.nonzero(scores >= threshold), strict=True):
            yield lefts[a], rights[b], float(scores[a, b])


class _Scan:
    """The hits of one check over a batch of candidates, key by key."""

    def __init__(
        self,
        session: Session,
        candidates: Sequence[Candidate],
        policy: DedupePolicy,
        exclude: Sequence[int | None],
    ) -> None:
        self.session = session
        self.candidates = candidates
        self.policy = policy
        self.exclude = exclude
        self.rank = {key: index for index, key in enumerate(policy.keys)}
        self.existing: _Hits = {}
        self.within: _Hits = {}
        self.rows: dict[int, KeyRow] = {}

    def hit(self, row: int, customer: KeyRow, key: MatchKey, score: float) -> None:
        if customer.id == self.exclude[row]:
            return
        self.rows[customer.id] = customer
        _note(self.existing, self.rank, (row, customer.id), key, score)

    def repeat(self, row: int, earlier: int, key: MatchKey, score: float) -> None:
        if earlier < row:
            _note(self.within, self.rank, (row, earlier), key, score)

    def exact(self, key: MatchKey) -> None:
        column = key.value
        values = {
            i: getattr(c, column) for i, c in enumerate(self.candidates) if getattr(c, column)
        }
        if not values:
            return
        found: dict[str, list[KeyRow]] = defaultdict(list)
        for customer in repository.by_key_column(self.session, column, values.values()):
            found[getattr(customer, column)].append(customer)
        first: dict[str, int] = {}
        for row, value in values.items():
            for customer in found.get(value, ()):
                self.hit(row, customer, key, 100.0)
            self.repeat(row, first.setdefault(value, row), key, 100.0)

    def fuzzy(
        self,
        key: MatchKey,
        left: list[tuple[int, Any, str]],
        right: list[tuple[KeyRow, Any, str]],
        scorer: Callable[..., float],
    ) -> None:
        threshold = self.policy.threshold
        lefts = [(block, form) for _, block, form in left]
        rights = [(block, form) for _, block, form in right]
        for a, b, score in _blocked_pairs(lefts, rights, scorer, threshold):
            self.hit(left[a][0], right[b][0], key, score)
        for a, b, score in _blocked_pairs(lefts, lefts, scorer, threshold):
            self.repeat(left[a][0], left[b][0], key, score)

    def company(self) -> None:
        left = [
            (i, c.prefix, normalise.company_key(c.company_name))
            for i, c in enumerate(self.candidates)
            if c.company_name
        ]
        if not left:
            return
        names = {c.company_name for c in self.candidates if c.company_name}
        existing = repository.company_candidates(
            self.session, (n for n in names if n), (block for _, block, _ in left)
        )
        right = [
            (customer, customer.name_initials[:PREFIX_LENGTH], normalise.company_key(text))
            for customer in existing
            for text in {customer.name, customer.company}
            if text
        ]
        self.fuzzy(MatchKey.company, left, right, fuzz.ratio)
        # Equal keys whose initials differ (a name found through the company column) still match.
        by_form: dict[str, list[KeyRow]] = defaultdict(list)
        for customer, _, form in right:
            by_form[form].append(customer)
        for row, _, form in left:
            for customer in by_form.get(form, ()):
                self.hit(row, customer, MatchKey.company, 100.0)

    def name_city(self) -> None:
        left = [
            (i, (c.city, c.prefix), person_form(c.name))
            for i, c in enumerate(self.candidates)
            if c.kind == CustomerKind.person and c.city
        ]
        if not left:
            return
        existing = repository.person_candidates(
            self.session, (block[0] for _, block, _ in left), (block[1] for _, block, _ in left)
        )
        right = [
            (
                customer,
                (customer.city, customer.name_initials[:PREFIX_LENGTH]),
                person_form(customer.name),
            )
            for customer in existing
        ]
        self.fuzzy(MatchKey.name_city, left, right, fuzz.token_sort_ratio)

    def run(self) -> None:
        for key in self.policy.keys:
            if key == MatchKey.company:
                self.company()
            elif key == MatchKey.name_city:
                self.name_city()
            else:
                self.exact(key)


def _ownership(owner_id: int | None, acting_user_id: int | None) -> Ownership:
    if owner_id is None:
        return Ownership.pool
    return Ownership.mine if owner_id == acting_user_id else Ownership.other


def _results(scan: _Scan, acting_user_id: int | None) -> list[RowDuplicates]:
    names = repository.owner_names(
        scan.session, (c.owner_id for c in scan.rows.values() if c.owner_id is not None)
    )
    results = [RowDuplicates() for _ in scan.candidates]
    for (row, customer_id), (key, score) in scan.existing.items():
        customer = scan.rows[customer_id]
        results[row].existing.append(
            Match(
                customer_id=customer.id,
                external_id=customer.external_id,
                name=customer.name,
                key=key,
                score=score,
                ownership=_ownership(customer.owner_id, acting_user_id),
                owner_id=customer.owner_id,
                owner_name=None if customer.owner_id is None else names.get(customer.owner_id),
            )
        )
    for (row, earlier), (key, score) in scan.within.items():
        results[row].within.append(RowMatch(row=row, earlier_row=earlier, key=key, score=score))
    for result in results:
        result.existing.sort(key=lambda m: (scan.rank[m.key], -m.score, m.customer_id))
        result.within.sort(key=lambda m: (scan.rank[m.key], -m.score, m.earlier_row))
    return results


def find_duplicates_batch(
    *,
    session: Session,
    candidates: Sequence[HasKeys],
    policy: DedupePolicy,
    acting_user_id: int | None = None,
    exclude_ids: Sequence[int | None] | None = None,
) -> list[RowDuplicates]:
    """For each incoming row (an import batch): the live customers and earlier rows it repeats.

    `exclude_ids[i]` is the customer row i already is (an update), never reported against it.
    """
    keys = [c if isinstance(c, Candidate) else Candidate.of(c) for c in candidates]
    exclude = list(exclude_ids) if exclude_ids is not None else [None] * len(keys)
    if len(exclude) != len(keys):
        raise InvalidInput("exclude_ids must have one entry per candidate")
    scan = _Scan(session, keys, policy, exclude)
    scan.run()
    return _results(scan, acting_user_id)


def find_duplicates(
    *,
    session: Session,
    candidate: HasKeys,
    policy: DedupePolicy,
    exclude_id: int | None = None,
    acting_user_id: int | None = None,
) -> list[Match]:
    """The live customers `candidate` probably is, best key first, each with who holds it."""
    found = find_duplicates_batch(
        session=session,
        candidates=[candidate],
        policy=policy,
        acting_user_id=acting_user_id,
        exclude_ids=[exclude_id],
    )
    return found[0].existing

"""Interactions, tickets (complaints among them), survey answers and tags for demo customers."""

from __future__ import annotations

import numpy as np

from patron.demo import profiles as pf
from patron.demo.rhythm import STATUS_PAID, Timeline, to_datetimes
from patron.demo.vocabulary import Vocabulary

Table = dict[str, np.ndarray]
HOUR = np.timedelta64(3600, "s")
INTERACTION_KINDS = np.array(["call", "wechat", "visit", "email", "sms"])
INTERACTION_SHARES = (0.35, 0.35, 0.1, 0.1, 0.1)
TICKET_KINDS = np.array(["inquiry", "presale", "aftersale", "complaint"])
TICKET_CHANNELS = np.array(["phone", "wechat", "email", "web"])
PRIORITIES = np.array(["low", "normal", "high", "urgent"])
# Hours to first response and to resolution promised for each priority.
RESPONSE_HOURS = np.array([24, 8, 4, 2])
RESOLUTION_HOURS = np.array([120, 72, 48, 24])
OPEN_STATUSES = np.array(["new", "assigned", "in_progress", "waiting_for_customer", "resolved"])
NPS_PER_ORDER = 0.04
CSAT_ANSWER_RATE = 0.6


def _owners(rng: np.random.Generator, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The customer (local index) of each of `counts` events, and each event's draw order."""
    customer = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    return customer, rng.random(customer.size)


def draw_interactions(
    rng: np.random.Generator,
    codes: np.ndarray,
    timeline: Timeline,
    owner: np.ndarray,
    agents: int,
    words: Vocabulary,
    end: np.datetime64,
) -> Table:
    """Calls, WeChat messages, visits and more; owners' outbound contacts are follow-ups."""
    counts = rng.poisson(pf.column("interactions")[codes])
    customer, u = _owners(rng, counts)
    low = np.maximum(timeline.stop_ago[customer] - 45.0, 0.0)
    ago = low + u * (timeline.first_ago[customer] + 14.0 - low)
    by = owner[customer]
    pooled = by < 0
    by = np.where(pooled, rng.integers(0, agents, customer.size), by)
    outbound = rng.random(customer.size) < 0.7
    n = customer.size
    return {
        "customer": customer,
        "kind": INTERACTION_KINDS[rng.choice(5, size=n, p=INTERACTION_SHARES)],
        "direction": np.where(outbound, "outbound", "inbound"),
        "is_follow_up": outbound & ~pooled & (rng.random(n) < 0.8),
        "summary": np.array(words.interaction_notes)[rng.integers(0, 8, n)],
        "agent": by,
        "occurred_at": to_datetimes(rng, ago, end),
    }


def _ticket_days_ago(
    rng: np.random.Generator, codes: np.ndarray, timeline: Timeline, customer: np.ndarray
) -> np.ndarray:
    """Tickets fall in the active period; for fading customers, mostly near its end."""
    first, stop = timeline.first_ago[customer], timeline.stop_ago[customer]
    fading = np.isin(
        codes[customer],
        [pf.PROFILES.index(pf.Profile.declining), pf.PROFILES.index(pf.Profile.churned)],
    )
    share = np.where(fading, rng.beta(1.0, 3.0, customer.size), rng.random(customer.size))
    return np.asarray(stop + share * (first - stop))


def draw_tickets(
    rng: np.random.Generator,
    codes: np.ndarray,
    timeline: Timeline,
    agents: int,
    words: Vocabulary,
    end: np.datetime64,
) -> Table:
    """Inquiries, after-sale cases and complaints, with service timestamps and SLA dues."""
    counts = rng.poisson(pf.column("tickets")[codes])
    customer, _ = _owners(rng, counts)
    n = customer.size
    ago = _ticket_days_ago(rng, codes, timeline, customer)
    complaint = rng.random(n) < pf.column("complaint_share")[codes][customer]
    kind = np.where(complaint, 3, rng.choice(3, size=n, p=(0.45, 0.15, 0.40)))
    priority = np.where(
        complaint,
        rng.choice(4, size=n, p=(0.0, 0.3, 0.5, 0.2)),
        rng.choice(4, size=n, p=(0.2, 0.7, 0.1, 0.0)),
    )
    opened = to_datetimes(rng, ago, end)
    end_s = end.astype("datetime64[s]")
    settled = ago > 14.0
    status = np.where(
        settled,
        np.where(rng.random(n) < 0.85, "closed", "resolved"),
        OPEN_STATUSES[rng.integers(0, OPEN_STATUSES.size, n)],
    )
    answered = status != "new"
    first_response = opened + (rng.exponential(3.0, n) * 3600).astype("timedelta64[s]")
    done = np.isin(status, ["resolved", "closed"])
    resolved = first_response + (rng.gamma(2.0, 0.8, n) * 86_400).astype("timedelta64[s]")
    closed = resolved + np.timedelta64(2, "D")
    nat = np.datetime64("NaT", "s")
    subjects = {k: np.array(v) for k, v in words.ticket_subjects.items()}
    subject = np.empty(n, dtype=object)
    for code, name in enumerate(TICKET_KINDS):  # four kinds, not a loop over tickets
        mask = kind == code
        subject[mask] = subjects[name][rng.integers(0, subjects[name].size, int(mask.sum()))]
    return {
        "customer": customer,
        "kind": TICKET_KINDS[kind],
        "channel": TICKET_CHANNELS[rng.integers(0, TICKET_CHANNELS.size, n)],
        "priority": PRIORITIES[priority],
        "status": status,
        "subject": subject.astype(str),
        "category": np.array(words.ticket_categories)[rng.integers(0, 6, n)],
        "agent": rng.integers(0, agents, n),
        "opened_at": opened,
        "first_response_at": np.where(answered, np.minimum(first_response, end_s), nat),
        "resolved_at": np.where(done, np.minimum(resolved, end_s), nat),
        "closed_at": np.where(status == "closed", np.minimum(closed, end_s), nat),
        "response_due_at": opened + RESPONSE_HOURS[priority] * HOUR,
        "resolution_due_at": opened + RESOLUTION_HOURS[priority] * HOUR,
    }


def complainers(tickets: Table, customers: int) -> np.ndarray:
    """Whether each customer has filed a complaint."""
    is_complaint = tickets["kind"] == "complaint"
    return np.bincount(tickets["customer"][is_complaint], minlength=customers) > 0


def _comments(
    rng: np.random.Generator, words: Vocabulary, good: np.ndarray, bad: np.ndarray
) -> np.ndarray:
    """Some happy answers praise, some unhappy ones criticise, most say nothing."""
    n = good.size
    praise = np.array(words.praise)[rng.integers(0, len(words.praise), n)]
    critic = np.array(words.criticism)[rng.integers(0, len(words.criticism), n)]
    speaks = rng.random(n) < 0.5
    return np.where(good & speaks, praise, np.where(bad & speaks, critic, ""))


def draw_responses(
    rng: np.random.Generator,
    codes: np.ndarray,
    orders: Table,
    tickets: Table,
    complained: np.ndarray,
    words: Vocabulary,
    end: np.datetime64,
) -> Table:
    """NPS answers after some paid orders and CSAT answers after resolved tickets."""
    end_s = end.astype("datetime64[s]")
    paid = np.flatnonzero(
        (orders["status"] == STATUS_PAID) & (rng.random(orders["status"].size) < NPS_PER_ORDER)
    )
    nps_customer = orders["customer"][paid]
    mean = pf.column("nps_mean")[codes][nps_customer] - 2.5 * complained[nps_customer]
    nps = np.clip(np.round(rng.normal(mean, 1.6)), 0, 10).astype(np.int64)
    nps_at = orders["ordered_at"][paid] + (rng.uniform(1, 10, paid.size) * 86_400).astype(
        "timedelta64[s]"
    )
    solved = np.flatnonzero(~np.isnat(tickets["resolved_at"]))
    solved = solved[rng.random(solved.size) < CSAT_ANSWER_RATE]
    was_complaint = tickets["kind"][solved] == "complaint"
    csat = np.clip(np.round(rng.normal(4.4 - 1.7 * was_complaint, 0.8)), 1, 5).astype(np.int64)
    csat_at = tickets["resolved_at"][solved] + (rng.uniform(0.1, 2, solved.size) * 86_400).astype(
        "timedelta64[s]"
    )
    score = np.concatenate([nps, csat])
    good = np.concatenate([nps >= 9, csat >= 5])
    bad = np.concatenate([nps <= 6, csat <= 2])
    return {
        "customer": np.concatenate([nps_customer, tickets["customer"][solved]]),
        "kind": np.concatenate([np.full(paid.size, "nps"), np.full(solved.size, "csat")]),
        "score": score,
        "ticket": np.concatenate([np.full(paid.size, -1), solved]),
        "comment": _comments(rng, words, good, bad),
        "answered_at": np.minimum(np.concatenate([nps_at, csat_at]), end_s),
    }


def draw_tags(
    rng: np.random.Generator,
    codes: np.ndarray,
    company: np.ndarray,
    store_first: np.ndarray,
    complained: np.ndarray,
    words: Vocabulary,
) -> Table:
    """Customer tags: VIP, company, channel preference, gifting and past complaints."""
    n = codes.size
    flags = {
        "vip": codes == pf.PROFILES.index(pf.Profile.loyal),
        "company": company,
        "store": store_first,
        "online": ~store_first,
        "gift": rng.random(n) < 0.1,
        "complained": complained,
    }
    customers = [np.flatnonzero(mask) for mask in flags.values()]
    texts = [np.full(c.size, words.tags[key]) for key, c in zip(flags, customers, strict=True)]
    return {"customer": np.concatenate(customers), "tag": np.concatenate(texts)}

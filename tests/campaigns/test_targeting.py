"""Who a campaign reaches: segment over the latest snapshot, suppression and the holdout."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import true
from sqlalchemy.orm import Session, sessionmaker

from patron.campaigns import targeting
from patron.campaigns.models import OptOut
from patron.db import now
from tests import builders
from tests.campaigns.world import campaign, scored, segment


def _audience(session: Session, expression: str, **fields: object) -> targeting.Audience:
    target = campaign(session, segment(session, expression), **fields)
    return targeting.audience(
        session, checked=targeting.check_segment(expression), visible=true(), channel="email",
        cap=targeting.Cap(target.cap_messages, target.cap_days), campaign_id=target.id,
        holdout_share=target.holdout_share, moment=now(),
    )  # fmt: skip


def test_segment_reads_the_latest_finished_snapshot(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        old = builders.scoring_run(session, as_of=datetime(2024, 1, 1))
        new = builders.scoring_run(session, as_of=datetime(2024, 6, 1))
        unfinished = builders.scoring_run(session, as_of=datetime(2024, 7, 1), status="running")
        lapsed = scored(session, old, "旧快照", recency=10)
        builders.snapshot(session, new, lapsed, features={"recency_days": 200})
        active = scored(session, old, "活跃", recency=200)
        builders.snapshot(session, new, active, features={"recency_days": 5})
        builders.snapshot(session, unfinished, active, features={"recency_days": 500})
        scored(session, new, "没有特征", recency=None)
        found = _audience(session, "recency_days > 90")
        assert found.customer_ids.tolist() == [lapsed.id]
        tagged = _audience(session, "recency_days > 90 AND city = '上海'")
        assert tagged.customer_ids.tolist() == []


def test_suppression_reasons(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        run = builders.scoring_run(session)
        ok = scored(session, run, "可以发")
        opted = scored(session, run, "退订")
        session.add(OptOut(customer_id=opted.id, channel="*"))
        refused = scored(session, run, "不同意", consent=False)
        unknown = scored(session, run, "未表态", consent=None)
        no_email = scored(session, run, "没邮箱", email=None)
        scored(session, run, "已删除", deleted_at=datetime(2024, 1, 1))
        session.flush()
        found = _audience(session, "recency_days > 90")
        reasons = dict(zip(found.customer_ids.tolist(), found.reasons.tolist(), strict=True))
    assert reasons == {
        ok.id: None, opted.id: "opted_out", refused.id: "no_consent",
        unknown.id: "no_consent", no_email.id: "no_address",
    }  # fmt: skip
    assert found.counts()["treated"] == 1
    assert found.counts()["suppressed"] == {
        "opted_out": 1, "no_consent": 2, "no_address": 1, "frequency_cap": 0
    }  # fmt: skip


def test_holdout_is_an_exact_share_fixed_by_the_campaign() -> None:
    ids = np.arange(1, 1001, dtype=np.int64)
    first = targeting.holdout_mask(ids, 7, 0.2)
    assert first.sum() == 200
    assert np.array_equal(first, targeting.holdout_mask(ids, 7, 0.2))
    other = targeting.holdout_mask(ids, 8, 0.2)
    assert 0 < (first & other).sum() < 100  # another campaign holds out other customers
    shuffled = ids[::-1].copy()
    assert set(shuffled[targeting.holdout_mask(shuffled, 7, 0.2)]) == set(ids[first])
    assert targeting.holdout_mask(ids, 7, 0.0).sum() == 0
    assert targeting.holdout_mask(np.array([], dtype=np.int64), 7, 0.5).size == 0

"""Knowledge articles and their search, on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.errors import InvalidInput, NotFound
from patron.knowledge import service
from patron.knowledge.models import ArticleStatus, TicketArticle
from patron.knowledge.schemas import ArticleIn, ArticlePatch
from tests import builders

ARTICLES = [
    (
        "如何申请退款",
        "订单签收后七天内可在我的订单页面申请退款，退款三个工作日内原路退回。",
        "售后",
        ["退款"],
    ),
    ("发票抬头填写说明", "企业客户请填写完整的发票抬头和统一社会信用代码。", "财务", ["发票"]),
    (
        "修改收货地址",
        "发货前可以修改收货地址；已发货的订单请联系客服。退款请见退款说明。",
        "售后",
        [],
    ),
    (
        "Refund policy",
        "Refunds are paid back within three working days after approval.",
        "Billing",
        ["refund"],
    ),
]


def _write(session: Session) -> dict[str, int]:
    ids = {}
    for title, body, category, tags in ARTICLES:
        article_in = ArticleIn(title=title, body=body, category=category, tags=tags)
        ids[title] = service.create_article(
            session=session, article_in=article_in, author_id=None
        ).id
    return ids


def _search(session: Session, query: str, *, drafts: bool = False, **filters: str) -> list[str]:
    base = service.filtered(
        service.readable(include_drafts=drafts),
        category=filters.get("category"),
        tag=filters.get("tag"),
    )
    return [
        hit.title
        for hit in service.search_articles(session=session, query=query, base=base, limit=10)
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("退款", ["如何申请退款", "修改收货地址"]),  # two characters: the LIKE fallback
        ("发票抬头", ["发票抬头填写说明"]),  # four characters: the trigram index
        ("申请退款", ["如何申请退款"]),
        ("收货地址 已发货", ["修改收货地址"]),  # every term must occur
        ("refund", ["Refund policy"]),  # case does not matter
        ("REFUNDS", ["Refund policy"]),
        ("票", ["发票抬头填写说明"]),  # one character
        ("物流", []),
    ],
)
def test_search_finds_chinese_and_english(
    sessions: sessionmaker[Session], query: str, expected: list[str]
) -> None:
    with sessions.begin() as session:
        _write(session)
    with sessions.begin() as session:
        assert _search(session, query) == expected


def test_title_hits_rank_above_body_hits(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _write(session)
        hits = service.search_articles(
            session=session, query="退款", base=service.readable(include_drafts=False), limit=10
        )
    assert [hit.title for hit in hits] == ["如何申请退款", "修改收货地址"]
    assert hits[0].rank > hits[1].rank
    assert "退款" in hits[1].excerpt


def test_search_follows_edits_and_deletes(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        ids = _write(session)
    with sessions.begin() as session:
        _search(session, "发票抬头")  # the index exists before the edits
        service.update_article(
            session=session,
            article_id=ids["发票抬头填写说明"],
            patch=ArticlePatch(title="开票须知", body="纸质发票随货寄出。"),
        )
        service.delete_article(session=session, article_id=ids["如何申请退款"])
    with sessions.begin() as session:
        assert _search(session, "发票抬头") == []
        assert _search(session, "纸质发票") == ["开票须知"]
        assert _search(session, "申请退款") == []
        assert _search(session, "退款") == ["修改收货地址"]


def test_filters_and_drafts(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _write(session)
        draft = ArticleIn(title="退款草稿", body="尚未发布", status=ArticleStatus.draft)
        service.create_article(session=session, article_in=draft, author_id=None)
    with sessions.begin() as session:
        assert _search(session, "退款", category="财务") == []
        assert _search(session, "退款", tag="退款") == ["如何申请退款"]
        assert "退款草稿" not in _search(session, "退款")
        assert "退款草稿" in _search(session, "退款", drafts=True)
        counts = {
            c.name: c.articles for c in service.categories(session=session, include_drafts=False)
        }
    assert counts == {"Billing": 1, "售后": 2, "财务": 1}


@pytest.mark.parametrize("query", ["", "   ", "x" * 201, " ".join(str(i) for i in range(11))])
def test_bad_queries_are_refused(sessions: sessionmaker[Session], query: str) -> None:
    with sessions.begin() as session, pytest.raises(InvalidInput):
        _search(session, query)


def test_search_operators_are_plain_text(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _write(session)
        assert _search(session, 'refund" OR "发票') == []
        assert _search(session, "100%") == []
        assert _search(session, "re_und") == []


def test_ticket_links_are_kept_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        ids = _write(session)
        ticket = builders.ticket(session, builders.customer(session))
        article_id = ids["如何申请退款"]
        assert service.link_to_ticket(
            session=session, ticket_id=ticket.id, article_id=article_id, by=None
        )
        assert not service.link_to_ticket(
            session=session, ticket_id=ticket.id, article_id=article_id, by=None
        )
        linked = service.ticket_articles(session=session, ticket_id=ticket.id)
        assert [a.id for a in linked] == [article_id]
        service.delete_article(session=session, article_id=article_id)
        assert session.scalars(select(TicketArticle)).all() == []
        with pytest.raises(NotFound):
            service.unlink_from_ticket(session=session, ticket_id=ticket.id, article_id=article_id)


def test_tags_are_trimmed_and_unique(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        article_in = ArticleIn(title="标签", tags=[" 售后 ", "售后", "", "物流"])
        article = service.create_article(session=session, article_in=article_in, author_id=None)
        assert service.present(session, [article])[0].tags == ["售后", "物流"]
        with pytest.raises(InvalidInput):
            service.update_article(
                session=session, article_id=article.id, patch=ArticlePatch(title="  ")
            )

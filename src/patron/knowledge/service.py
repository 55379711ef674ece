"""Knowledge use cases: write articles, read and search them, link them to tickets.

Services never commit: the caller's unit of work does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from patron.errors import InvalidInput, NotFound
from patron.knowledge import search as searching
from patron.knowledge.models import (
    Article,
    ArticleCategory,
    ArticleStatus,
    ArticleTag,
    TicketArticle,
)
from patron.knowledge.schemas import ArticleIn, ArticlePatch, ArticleView, CategoryView, SearchHit

EXCERPT = 120


def _clean_tags(tags: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))
    too_long = [tag for tag in cleaned if len(tag) > 64]
    if too_long:
        raise InvalidInput(f"a tag is at most 64 characters: '{too_long[0][:70]}'")
    return cleaned


def _category_id(session: Session, name: str | None) -> int | None:
    if name is None:
        return None
    name = name.strip()
    if not name:
        raise InvalidInput("a category name cannot be blank")
    found = session.scalar(select(ArticleCategory).where(ArticleCategory.name == name))
    if found is None:
        found = ArticleCategory(name=name)
        session.add(found)
        session.flush()
    return found.id


def _set_tags(session: Session, article_id: int, tags: Sequence[str]) -> None:
    session.execute(delete(ArticleTag).where(ArticleTag.article_id == article_id))
    session.add_all(ArticleTag(article_id=article_id, tag=tag) for tag in _clean_tags(tags))
    session.flush()


def _tags(session: Session, article_ids: Sequence[int]) -> dict[int, list[str]]:
    rows = session.execute(
        select(ArticleTag.article_id, ArticleTag.tag)
        .where(ArticleTag.article_id.in_(article_ids))
        .order_by(ArticleTag.tag)
    ).all()
    tags: dict[int, list[str]] = {}
    for article_id, tag in rows:
        tags.setdefault(article_id, []).append(tag)
    return tags


def _category_names(session: Session, ids: Sequence[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    rows = session.execute(
        select(ArticleCategory.id, ArticleCategory.name).where(ArticleCategory.id.in_(wanted))
    ).all()
    return {int(row[0]): str(row[1]) for row in rows}


def present(session: Session, articles: Sequence[Article]) -> list[ArticleView]:
    """API views of articles with their category names and tags."""
    tags = _tags(session, [a.id for a in articles])
    names = _category_names(session, [a.category_id for a in articles])
    return [
        ArticleView(
            id=a.id,
            title=a.title,
            body=a.body,
            category=names.get(a.category_id) if a.category_id else None,
            tags=tags.get(a.id, []),
            status=a.status,
            author_id=a.author_id,
            created_at=a.created_at,
            updated_at=a.updated_at,
        )
        for a in articles
    ]


def create_article(*, session: Session, article_in: ArticleIn, author_id: int | None) -> Article:
    """Store a new article with its category and tags."""
    article = Article(
        title=article_in.title.strip(),
        body=article_in.body,
        category_id=_category_id(session, article_in.category),
        status=article_in.status,
        author_id=author_id,
    )
    if not article.title:
        raise InvalidInput("an article needs a title")
    session.add(article)
    session.flush()
    _set_tags(session, article.id, article_in.tags)
    return article


def readable(*, include_drafts: bool) -> Select[Any]:
    """The ids of the articles a reader may see: drafts only for writers."""
    query = select(Article.id)
    return query if include_drafts else query.where(Article.status == ArticleStatus.published)


def get_article(*, session: Session, article_id: int, include_drafts: bool) -> Article:
    """One article, or NotFound (a draft does not exist for readers)."""
    query = select(Article).where(Article.id.in_(readable(include_drafts=include_drafts)))
    article = session.scalar(query.where(Article.id == article_id))
    if article is None:
        raise NotFound(f"no article with id {article_id}")
    return article


def update_article(*, session: Session, article_id: int, patch: ArticlePatch) -> Article:
    """Change the fields given in the patch."""
    article = get_article(session=session, article_id=article_id, include_drafts=True)
    given = patch.model_fields_set
    if "title" in given:
        if patch.title is None or not patch.title.strip():
            raise InvalidInput("an article needs a title")
        article.title = patch.title.strip()
    if "body" in given:
        article.body = patch.body or ""
    if "category" in given:
        article.category_id = _category_id(session, patch.category)
    if "status" in given and patch.status is not None:
        article.status = patch.status
    if "tags" in given:
        _set_tags(session, article.id, patch.tags or [])
    session.flush()
    return article


def delete_article(*, session: Session, article_id: int) -> None:
    """Remove an article, its tags and its ticket links."""
    article = get_article(session=session, article_id=article_id, include_drafts=True)
    session.delete(article)
    session.flush()


def filtered(base: Select[Any], *, category: str | None, tag: str | None) -> Select[Any]:
    """Narrow an id query to one category and/or one tag."""
    if category is not None:
        names = select(ArticleCategory.id).where(ArticleCategory.name == category)
        base = base.where(Article.category_id.in_(names))
    if tag is not None:
        base = base.where(
            Article.id.in_(select(ArticleTag.article_id).where(ArticleTag.tag == tag))
        )
    return base


def _excerpt(body: str, terms: Sequence[str]) -> str:
    lowered = body.lower()
    found = [lowered.find(term.lower()) for term in terms]
    first = min((at for at in found if at >= 0), default=0)
    start = max(0, first - EXCERPT // 4)
    text = body[start : start + EXCERPT]
    return ("…" if start else "") + text + ("…" if start + EXCERPT < len(body) else "")


def search_articles(
    *, session: Session, query: str, base: Select[Any], limit: int
) -> list[SearchHit]:
    """Articles matching every term of `query`, best first, with excerpts."""
    hits = searching.search(session, base, query, limit=limit)
    articles = {a.id: a for a in session.scalars(
        select(Article).where(Article.id.in_([hit.article_id for hit in hits]))
    )}  # fmt: skip
    views = {view.id: view for view in present(session, list(articles.values()))}
    terms = searching.terms_of(query)
    return [
        SearchHit(
            id=hit.article_id,
            title=views[hit.article_id].title,
            category=views[hit.article_id].category,
            tags=views[hit.article_id].tags,
            excerpt=_excerpt(articles[hit.article_id].body, terms),
            rank=round(hit.rank, 6),
        )
        for hit in hits
    ]


def categories(*, session: Session, include_drafts: bool) -> list[CategoryView]:
    """Every category with the number of articles the reader may see in it."""
    counted = (
        select(Article.category_id, func.count().label("n"))
        .where(Article.id.in_(readable(include_drafts=include_drafts)))
        .group_by(Article.category_id)
        .subquery()
    )
    rows = session.execute(
        select(ArticleCategory.id, ArticleCategory.name, func.coalesce(counted.c.n, 0))
        .outerjoin(counted, counted.c.category_id == ArticleCategory.id)
        .order_by(ArticleCategory.name)
    ).all()
    return [CategoryView(id=row[0], name=row[1], articles=int(row[2])) for row in rows]


def link_to_ticket(*, session: Session, ticket_id: int, article_id: int, by: int | None) -> bool:
    """Link an article to a ticket; False when it was linked already (nothing changes)."""
    get_article(session=session, article_id=article_id, include_drafts=False)
    if session.get(TicketArticle, (ticket_id, article_id)) is not None:
        return False
    session.add(TicketArticle(ticket_id=ticket_id, article_id=article_id, linked_by_id=by))
    session.flush()
    return True


def unlink_from_ticket(*, session: Session, ticket_id: int, article_id: int) -> None:
    """Remove a ticket's link to an article; NotFound when there is none."""
    link = session.get(TicketArticle, (ticket_id, article_id))
    if link is None:
        raise NotFound(f"article {article_id} is not linked to ticket {ticket_id}")
    session.delete(link)
    session.flush()


def ticket_articles(*, session: Session, ticket_id: int) -> list[Article]:
    """The articles linked to a ticket, most recently linked first."""
    query = (
        select(Article)
        .join(TicketArticle, TicketArticle.article_id == Article.id)
        .where(TicketArticle.ticket_id == ticket_id)
        .order_by(TicketArticle.linked_at.desc(), Article.id.desc())
    )
    return list(session.scalars(query))

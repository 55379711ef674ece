"""/api/v1/knowledge: articles (admins and managers write, everyone signed in reads), search,
categories; /api/v1/tickets/{id}/articles: the articles linked to a ticket.

Reading needs the `customers:read` token scope and writing `customers:write`: the knowledge
base is the customer service's reference, so it shares their scopes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.api.access import Actor, Permission, visible_tickets
from patron.api.deps import CurrentActor, SessionDep, requires
from patron.api.errors import responses
from patron.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, SortKey, as_datetime, paginate
from patron.auth.models import Role
from patron.errors import Forbidden, NotFound
from patron.knowledge import service
from patron.knowledge.models import Article
from patron.knowledge.schemas import (
    ArticleIn,
    ArticlePatch,
    ArticleView,
    CategoryView,
    SearchHit,
    TicketLinkIn,
)
from patron.service.models import Ticket

router = APIRouter(tags=["knowledge"], responses=responses(401, 403, 422))
WRITERS = frozenset({Role.admin, Role.manager})
SORT_KEYS = {
    "updated_at": SortKey(Article.updated_at, as_datetime),
    "created_at": SortKey(Article.created_at, as_datetime),
    "title": SortKey(Article.title, str),
}


def _writer(actor: CurrentActor) -> Actor:
    actor.require(Permission.customers_write)
    if actor.role not in WRITERS:
        raise Forbidden(f"a {actor.role.value} may read the knowledge base but not change it")
    return actor


Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, Depends(_writer)]
Linker = Annotated[Actor, requires(Permission.customers_write)]


def _drafts(actor: Actor) -> bool:
    return actor.role in WRITERS


def _ticket(session: Session, actor: Actor, ticket_id: int) -> Ticket:
    ticket = session.scalar(select(Ticket).where(Ticket.id == ticket_id, visible_tickets(actor)))
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return ticket


@router.get("/knowledge/articles", summary="List articles")
def list_articles(
    session: SessionDep,
    actor: Reader,
    category: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    sort: str = "-updated_at",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[ArticleView]:
    """Articles, newest change first; drafts only for admins and managers."""
    ids = service.filtered(
        service.readable(include_drafts=_drafts(actor)), category=category, tag=tag
    )
    query = select(Article).where(Article.id.in_(ids))
    rows, next_cursor = paginate(
        session, query, sort=sort, keys=SORT_KEYS, id_column=Article.id, cursor=cursor, limit=limit
    )
    return Page(items=service.present(session, list(rows)), next_cursor=next_cursor, limit=limit)


@router.post("/knowledge/articles", status_code=201, summary="Write an article")
def create_article(session: SessionDep, actor: Writer, body: ArticleIn) -> ArticleView:
    """A new article; its category is created when first named."""
    article = service.create_article(session=session, article_in=body, author_id=actor.user_id)
    return service.present(session, [article])[0]


@router.get("/knowledge/search", summary="Search articles", responses=responses(422))
def search_articles(
    session: SessionDep,
    actor: Reader,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    category: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[SearchHit]:
    """Articles containing every word of `q` (Chinese or not), best first."""
    base = service.filtered(
        service.readable(include_drafts=_drafts(actor)), category=category, tag=tag
    )
    return service.search_articles(session=session, query=q, base=base, limit=limit)


@router.get("/knowledge/categories", summary="List categories")
def list_categories(session: SessionDep, actor: Reader) -> list[CategoryView]:
    """Every category with its article count."""
    return service.categories(session=session, include_drafts=_drafts(actor))


@router.get("/knowledge/articles/{article_id}", summary="One article", responses=responses(404))
def get_article(session: SessionDep, actor: Reader, article_id: int) -> ArticleView:
    """One article; a draft is not found for agents and analysts."""
    article = service.get_article(
        session=session, article_id=article_id, include_drafts=_drafts(actor)
    )
    return service.present(session, [article])[0]


@router.patch(
    "/knowledge/articles/{article_id}", summary="Change an article", responses=responses(404)
)
def update_article(
    session: SessionDep, actor: Writer, article_id: int, body: ArticlePatch
) -> ArticleView:
    """Change the fields given."""
    article = service.update_article(session=session, article_id=article_id, patch=body)
    return service.present(session, [article])[0]


@router.delete(
    "/knowledge/articles/{article_id}",
    status_code=204,
    summary="Delete an article",
    responses=responses(404),
)
def delete_article(session: SessionDep, actor: Writer, article_id: int) -> Response:
    """Remove an article and its links to tickets."""
    service.delete_article(session=session, article_id=article_id)
    return Response(status_code=204)


@router.get(
    "/tickets/{ticket_id}/articles", summary="Articles linked to a ticket", responses=responses(404)
)
def linked_articles(session: SessionDep, actor: Reader, ticket_id: int) -> list[ArticleView]:
    """The articles linked to a ticket the caller may see."""
    _ticket(session, actor, ticket_id)
    return service.present(session, service.ticket_articles(session=session, ticket_id=ticket_id))


@router.post(
    "/tickets/{ticket_id}/articles", summary="Link an article to a ticket", responses=responses(404)
)
def link_article(
    session: SessionDep, actor: Linker, ticket_id: int, body: TicketLinkIn, response: Response
) -> list[ArticleView]:
    """Link a published article to a ticket (201; 200 when it was linked already)."""
    _ticket(session, actor, ticket_id)
    added = service.link_to_ticket(
        session=session, ticket_id=ticket_id, article_id=body.article_id, by=actor.user_id
    )
    response.status_code = 201 if added else 200
    return service.present(session, service.ticket_articles(session=session, ticket_id=ticket_id))


@router.delete(
    "/tickets/{ticket_id}/articles/{article_id}",
    status_code=204,
    summary="Unlink an article from a ticket",
    responses=responses(404),
)
def unlink_article(session: SessionDep, actor: Linker, ticket_id: int, article_id: int) -> Response:
    """Remove a ticket's link to an article."""
    _ticket(session, actor, ticket_id)
    service.unlink_from_ticket(session=session, ticket_id=ticket_id, article_id=article_id)
    return Response(status_code=204)

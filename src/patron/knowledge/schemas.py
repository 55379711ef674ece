"""What the knowledge API takes and gives."""

from __future__ import annotations

from pydantic import BaseModel, Field

from patron.knowledge.models import ArticleStatus
from patron.wire import LocalDateTime

Tag = str


class ArticleIn(BaseModel):
    """A new article; the category is named and created on first use."""

    title: str = Field(min_length=1, max_length=300)
    body: str = Field(default="", max_length=200_000)
    category: str | None = Field(default=None, min_length=1, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    status: ArticleStatus = ArticleStatus.published


class ArticlePatch(BaseModel):
    """Fields to change; those left out stay as they are (`category: null` clears it)."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    body: str | None = Field(default=None, max_length=200_000)
    category: str | None = Field(default=None, min_length=1, max_length=100)
    tags: list[Tag] | None = Field(default=None, max_length=30)
    status: ArticleStatus | None = None


class ArticleView(BaseModel):
    """An article as the API shows it."""

    id: int
    title: str
    body: str
    category: str | None
    tags: list[str]
    status: ArticleStatus
    author_id: int | None
    created_at: LocalDateTime
    updated_at: LocalDateTime


class SearchHit(BaseModel):
    """A matching article, its rank (higher is better) and an excerpt around the first hit."""

    id: int
    title: str
    category: str | None
    tags: list[str]
    excerpt: str
    rank: float


class TicketLinkIn(BaseModel):
    """The article to link to a ticket."""

    article_id: int


class CategoryView(BaseModel):
    """A category and how many articles it holds."""

    id: int
    name: str
    articles: int

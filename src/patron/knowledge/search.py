"""Ranked full-text search over articles that works for Chinese as well as English.

Chinese has no spaces between words, so word tokenizers fail on it; trigram indexes do not.
SQLite: an FTS5 table with the `trigram` tokenizer, kept in step with the articles table by
triggers, ranked by bm25 (title weighted ten times the body). PostgreSQL: pg_trgm with a GIN
trigram index on title and body, matched by ILIKE and ranked by hits and similarity.

A trigram needs three characters, so terms of one or two characters (`退款`) are matched by
LIKE on both databases. Every whitespace-separated term must occur (AND).

The index is created at first use, not in a migration: the initial migration is rebuilt from
the models and every other file in migrations/versions goes with it, so a hand-written
revision would be lost. `ensure_index` checks the catalogue and creates what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    case,
    column,
    func,
    literal,
    literal_column,
    table,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import InstrumentedAttribute, Session

from patron.errors import InvalidInput
from patron.knowledge.models import Article

FTS_TABLE = "knowledge_articles_fts"
PG_INDEX = "ix_knowledge_articles_trgm"
MAX_QUERY = 200
MAX_TERMS = 10
TRIGRAM = 3

_SQLITE_DDL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "title, body, content='knowledge_articles', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER IF NOT EXISTS knowledge_articles_fts_ai AFTER INSERT ON knowledge_articles "
    f"BEGIN INSERT INTO {FTS_TABLE}(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    f"CREATE TRIGGER IF NOT EXISTS knowledge_articles_fts_ad AFTER DELETE ON knowledge_articles "
    f"BEGIN INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); END",
    f"CREATE TRIGGER IF NOT EXISTS knowledge_articles_fts_au AFTER UPDATE ON knowledge_articles "
    f"BEGIN INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    f"INSERT INTO {FTS_TABLE}(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    # Fills the index from rows written before it existed; a no-op cost on an empty table.
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",
)
_PG_DDL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON knowledge_articles "
    "USING gin ((title || ' ' || body) gin_trgm_ops)",
)


@dataclass(frozen=True)
class Hit:
    """One matching article id and its rank (higher is better)."""

    article_id: int
    rank: float


def terms_of(query: str) -> list[str]:
    """The search terms of a query, refused when empty or unreasonably long."""
    text_ = query.strip()
    if not text_:
        raise InvalidInput("type something to search for")
    if len(text_) > MAX_QUERY:
        raise InvalidInput(f"a search is at most {MAX_QUERY} characters")
    terms = list(dict.fromkeys(text_.split()))
    if len(terms) > MAX_TERMS:
        raise InvalidInput(f"a search has at most {MAX_TERMS} words")
    return terms


def _index_exists(session: Session) -> bool:
    if session.get_bind().dialect.name == "sqlite":
        found = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"
        return session.scalar(text(found), {"name": FTS_TABLE}) is not None
    found = "SELECT 1 FROM pg_indexes WHERE indexname = :name"
    return session.scalar(text(found), {"name": PG_INDEX}) is not None


def ensure_index(session: Session) -> None:
    """Create the search index (and its triggers) in the session's transaction if missing."""
    if _index_exists(session):
        return
    if session.get_bind().dialect.name == "sqlite":
        # SQLite runs one writer at a time, so no other session can be creating it now.
        for statement in _SQLITE_DDL:
            session.execute(text(statement))
        return
    try:
        with session.begin_nested():
            for statement in _PG_DDL:
                session.execute(text(statement))
    except DBAPIError:
        # Another session created it at the same moment: theirs serves as well as ours.
        if not _index_exists(session):
            raise


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(
    expression: ColumnElement[str] | InstrumentedAttribute[str], term: str
) -> ColumnElement[bool]:
    return expression.ilike(_like(term), escape="\\")


def _term_score(term: str) -> ColumnElement[float]:
    """A title hit counts twice a body hit: titles say what an article is about."""
    return case((_contains(Article.title, term), 2.0), else_=0.0) + case(
        (_contains(Article.body, term), 1.0), else_=0.0
    )


def _hits_score(terms: Sequence[str]) -> ColumnElement[float]:
    score: ColumnElement[float] = literal(0.0, Float)
    for term in terms:
        score = score + _term_score(term)
    return score


def _fts_match(terms: Sequence[str]) -> str:
    # Each term is a quoted phrase, so FTS5 operators typed by a user are plain text.
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _sqlite_query(base: Select[Any], terms: list[str]) -> Select[Any]:
    long_terms = [term for term in terms if len(term) >= TRIGRAM]
    short_terms = [term for term in terms if len(term) < TRIGRAM]
    rank = _hits_score(terms)
    query = base.add_columns(rank.label("rank"))
    if long_terms:
        fts = table(FTS_TABLE, column("rowid"))
        # bm25 is lower for better matches; the hit score keeps short terms counted too.
        bm25 = func.bm25(literal_column(FTS_TABLE), 10.0, 1.0)
        query = base.add_columns((rank - bm25).label("rank"))
        query = query.join(fts, fts.c.rowid == Article.id).where(
            text(f"{FTS_TABLE} MATCH :match").bindparams(match=_fts_match(long_terms))
        )
    for term in short_terms:
        query = query.where(_contains(Article.title, term) | _contains(Article.body, term))
    return query


def _postgres_query(base: Select[Any], terms: list[str]) -> Select[Any]:
    document = Article.title + " " + Article.body
    whole = " ".join(terms)
    # Similarity on the title only: on whole bodies it costs seconds per thousand matches.
    similar = func.similarity(Article.title, whole)
    query = base.add_columns((_hits_score(terms) + similar).label("rank"))
    for term in terms:
        # On the concatenation, so the GIN trigram index serves terms of three or more.
        query = query.where(_contains(document, term))
    return query


def search(session: Session, base: Select[Any], query: str, *, limit: int) -> list[Hit]:
    """The best `limit` articles among `base` (a select of Article.id) matching every term."""
    terms = terms_of(query)
    ensure_index(session)
    builder = _sqlite_query if session.get_bind().dialect.name == "sqlite" else _postgres_query
    ranked = builder(base, terms)
    ordered = ranked.order_by(
        literal_column("rank").desc(), Article.updated_at.desc(), Article.id.desc()
    )
    rows = session.execute(ordered.limit(limit)).all()
    return [Hit(article_id=int(row[0]), rank=float(row[1])) for row in rows]

"""The rows demo orders and answers point at: the product catalogue and the two surveys."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from sqlalchemy import Connection, insert, select

from patron.db import now
from patron.demo.vocabulary import vocabulary
from patron.models import Base
from patron.service.models import SurveyKind

SURVEY_NAMES = {
    "zh_CN": {"nps": "净推荐值 (NPS) 调查", "csat": "服务满意度 (CSAT) 调查"},
    "en": {"nps": "Net Promoter Score survey", "csat": "Service satisfaction (CSAT) survey"},
}
NPS_QUESTION = {
    "zh_CN": "您有多大可能向朋友推荐我们？",
    "en": "How likely are you to recommend us?",
}
CSAT_QUESTION = {"zh_CN": "您对这次服务满意吗？", "en": "How satisfied are you with our service?"}


def ensure_products(connection: Connection, locale: str) -> np.ndarray:
    """The demo catalogue (DEMO-P01 ...), created when missing; ids in catalogue order."""
    products = Base.metadata.tables["products"]
    ids = []
    for number, (name, category, price) in enumerate(vocabulary(locale).products, start=1):
        external_id = f"DEMO-P{number:02d}"
        found = connection.scalar(
            select(products.c.id).where(products.c.external_id == external_id)
        )
        if found is None:
            found = connection.execute(
                insert(products)
                .values(
                    external_id=external_id,
                    name=name,
                    category=category,
                    price=Decimal(price),
                    created_at=now(),
                    updated_at=now(),
                )
                .returning(products.c.id)
            ).scalar_one()
        ids.append(int(found))
    return np.array(ids, dtype=np.int64)


def ensure_surveys(connection: Connection, locale: str) -> dict[str, int]:
    """The NPS and CSAT surveys the demo answers belong to, created when missing."""
    surveys = Base.metadata.tables["surveys"]
    questions = {
        "nps": [{"id": "score", "text": NPS_QUESTION[locale], "scale": [0, 10]}],
        "csat": [{"id": "score", "text": CSAT_QUESTION[locale], "scale": [1, 5]}],
    }
    ids = {}
    for kind, name in SURVEY_NAMES[locale].items():
        found = connection.scalar(select(surveys.c.id).where(surveys.c.name == name))
        if found is None:
            found = connection.execute(
                insert(surveys)
                .values(
                    kind=SurveyKind(kind),
                    name=name,
                    questions=questions[kind],
                    active=True,
                    created_at=now(),
                    updated_at=now(),
                )
                .returning(surveys.c.id)
            ).scalar_one()
        ids[kind] = int(found)
    return ids

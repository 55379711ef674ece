"""The feature catalogue: its names, its DuckDB table and the generated docs/features.md."""

from __future__ import annotations

from pathlib import Path

import duckdb

from patron.analytics.catalog import (
    DUCKDB_TYPES,
    FEATURES,
    FeatureKind,
    duckdb_table_sql,
    render_markdown,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "features.md"

# The names `patron score` computes and rules use; renaming one breaks every rulebook.


def test_every_feature_is_described_in_both_languages() -> None:
    for feature in FEATURES.values():
        assert feature.meaning.endswith(".") and len(feature.meaning) > 10, feature.name
        assert feature.meaning_zh.endswith("。") and len(feature.meaning_zh) > 3, feature.name
        assert feature.kind in FeatureKind


def test_kinds_that_matter_to_rules() -> None:
    assert FEATURES["tags"].kind is FeatureKind.tags
    assert FEATURES["in_pool"].kind is FeatureKind.boolean
    assert FEATURES["owner"].kind is FeatureKind.text
    assert FEATURES["orders_90d"].kind is FeatureKind.integer
    assert FEATURES["clv"].kind is FeatureKind.number


def test_the_empty_duckdb_table_is_typed_by_kind() -> None:
    con = duckdb.connect()
    con.execute(duckdb_table_sql("features"))
    described = {name: kind for name, kind, *_ in con.execute("DESCRIBE features").fetchall()}
    assert described.pop("customer_id") == "BIGINT"
    assert described == {f.name: DUCKDB_TYPES[f.kind] for f in FEATURES.values()}
    assert con.execute("SELECT count(*) FROM features").fetchone() == (0,)


def test_a_table_without_a_key_column() -> None:
    con = duckdb.connect()
    con.execute(duckdb_table_sql("only_features", key=None))
    columns = [row[0] for row in con.execute("DESCRIBE only_features").fetchall()]
    assert columns == list(FEATURES)


def test_docs_features_md_is_what_the_catalogue_renders() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), (
        "docs/features.md is stale: run `python -m patron.analytics.catalog > docs/features.md`"
    )


def test_the_rendered_docs_list_every_feature_with_unit_and_meaning() -> None:
    text = render_markdown()
    for feature in FEATURES.values():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{feature.name}` |"))
        assert feature.meaning in row and feature.meaning_zh in row and feature.unit in row

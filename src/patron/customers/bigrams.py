"""Name search of two characters on PostgreSQL (`伟明`): the GIN index of names' pieces.

pg_trgm serves `name ILIKE '%…%'` from three characters on; two make no trigram, and a
Chinese given name is often just two. `patron_bigrams(name)` lists every two-character piece
of a name (lower-cased), so `patron_bigrams(name) @> ARRAY['伟明']` holds exactly for the
names containing `伟明`, and a GIN index over it answers at once. Being an expression index
over a function of Patron's, it is created by the migration environment (after the tables),
not declared in the models that SQLite shares; schema comparisons leave it out.

The function is declared costly (it builds an array per name; PostgreSQL's default cost for a
function is a tenth of that). Priced at the default, a two-letter search (`zs`, pinyin
initials) sorted by id was planned as a walk of the primary key testing every customer's name
until 51 matched, tens of thousands of calls: 100 ms of CPU at 1M customers and over half of the
load test's slow statements, against 25 ms through the two indexes (docs/benchmarks.md,
"Load test").
"""

from __future__ import annotations

INDEX = "ix_customers_name_bigrams"
FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION patron_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE COST 1000 AS $$
  SELECT coalesce(array_agg(DISTINCT lower(substr(t, i, 2))), '{}')
  FROM generate_series(1, char_length(t) - 1) AS i
$$"""
INDEX_SQL = f"CREATE INDEX IF NOT EXISTS {INDEX} ON customers USING gin (patron_bigrams(name))"

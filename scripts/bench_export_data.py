#!/usr/bin/env python3
"""Generates the data set of scripts/bench_export_vs_duckdb.sh with DuckDB.

features/part-K.parquet: VERSIONS feature versions of 5 features (f0..f2
DOUBLE, f3..f4 BIGINT) over ENTITIES entities (user_id), as PARTS files.
Entity i gets VERSIONS / ENTITIES versions, one in each equal slice of the
year 2024, at a pseudo-random time inside the slice (so no two versions of
one entity share an event time and the ASOF JOIN has one right answer);
created_timestamp is event_timestamp + 1 hour.

entities.parquet: ROWS entity rows: a pseudo-random user_id among the
entities, a pseudo-random event_timestamp from 2024-01-01 to 2025-01-31
(some rows fall before an entity's first version, some beyond the ttl),
a row id and a label.

Usage: bench_export_data.py OUT_DIR [VERSIONS ENTITIES ROWS PARTS]
"""
from bench_data_common import args, connect, write_entities, write_parts

out, (versions, entities, rows, parts) = args(
    {"versions": 10_000_000, "entities": 1_000_000, "rows": 5_000_000, "parts": 10})
con = connect()
write_parts(con, out, "features", versions, entities, parts, """
             ev + INTERVAL 1 HOUR AS created_timestamp,
             (hash(i, 2) % 1000000) / 1000.0 AS f0,
             (hash(i, 3) % 1000000) / 1000.0 AS f1,
             (hash(i, 4) % 1000000) / 1000.0 AS f2,
             (hash(i, 5) % 1000)::BIGINT AS f3,
             (hash(i, 6) % 100000)::BIGINT AS f4""")
write_entities(con, out, entities, rows)
print(f"wrote {versions} versions over {entities} entities in {parts} files, "
      f"and {rows} entity rows, to {out}")

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
import os
import sys

import duckdb

out = sys.argv[1]
versions = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
entities = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
rows = int(sys.argv[4]) if len(sys.argv) > 4 else 5_000_000
parts = int(sys.argv[5]) if len(sys.argv) > 5 else 10

per_entity = versions // entities
year_us = 366 * 86_400_000_000
slice_us = year_us // per_entity
os.makedirs(os.path.join(out, "features"), exist_ok=True)
con = duckdb.connect()
per_part = versions // parts
for p in range(parts):
    lo, hi = p * per_part, (p + 1) * per_part if p + 1 < parts else versions
    con.execute(f"""
    COPY (
      SELECT (i % {entities})::BIGINT AS user_id,
             ev AS event_timestamp,
             ev + INTERVAL 1 HOUR AS created_timestamp,
             (hash(i, 2) % 1000000) / 1000.0 AS f0,
             (hash(i, 3) % 1000000) / 1000.0 AS f1,
             (hash(i, 4) % 1000000) / 1000.0 AS f2,
             (hash(i, 5) % 1000)::BIGINT AS f3,
             (hash(i, 6) % 100000)::BIGINT AS f4
      FROM (
        SELECT i, TIMESTAMP '2024-01-01'
                 + to_microseconds(((i // {entities}) * {slice_us}
                                    + hash(i, 1) % {slice_us})::BIGINT) AS ev
        FROM range({lo}, {hi}) t(i)
      )
    ) TO '{out}/features/part-{p}.parquet' (FORMAT parquet)
    """)
con.execute(f"""
COPY (
  SELECT i AS row_id,
         (hash(i, 7) % {entities})::BIGINT AS user_id,
         TIMESTAMP '2024-01-01'
           + to_microseconds((hash(i, 8) % {year_us + 31 * 86_400_000_000})::BIGINT)
           AS event_timestamp,
         (hash(i, 9) % 2)::BIGINT AS label
  FROM range({rows}) t(i)
) TO '{out}/entities.parquet' (FORMAT parquet)
""")
print(f"wrote {versions} versions over {entities} entities in {parts} files, "
      f"and {rows} entity rows, to {out}")

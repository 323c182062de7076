#!/usr/bin/env python3
"""Generates the data set of scripts/bench_agg_export_vs_duckdb.sh with DuckDB.

events/part-K.parquet: EVENTS card transactions (user_id, event_timestamp,
created_timestamp = event_timestamp, amount DOUBLE) over USERS users, as
PARTS files. User u gets EVENTS / USERS events, one in each equal slice of
the year 2024 at a pseudo-random time inside the slice (so no two events of
a user share an event time).

entities.parquet: ROWS entity rows: a row id, a pseudo-random user_id among
the users, a pseudo-random event_timestamp from 2024-01-01 to 2025-01-31
(some rows fall before a user's first event) and a label.

Usage: bench_agg_export_data.py OUT_DIR [EVENTS USERS ROWS PARTS]
"""
import os
import sys

import duckdb

out = sys.argv[1]
events = int(sys.argv[2]) if len(sys.argv) > 2 else 4_000_000
users = int(sys.argv[3]) if len(sys.argv) > 3 else 20_000
rows = int(sys.argv[4]) if len(sys.argv) > 4 else 2_000_000
parts = int(sys.argv[5]) if len(sys.argv) > 5 else 4

per_user = events // users
year_us = 366 * 86_400_000_000
slice_us = year_us // per_user
os.makedirs(os.path.join(out, "events"), exist_ok=True)
con = duckdb.connect()
per_part = events // parts
for p in range(parts):
    lo, hi = p * per_part, (p + 1) * per_part if p + 1 < parts else events
    con.execute(f"""
    COPY (
      SELECT (i % {users})::BIGINT AS user_id,
             ev AS event_timestamp,
             ev AS created_timestamp,
             (hash(i, 2) % 1000000) / 100.0 AS amount
      FROM (
        SELECT i, TIMESTAMP '2024-01-01'
                 + to_microseconds(((i // {users}) * {slice_us}
                                    + hash(i, 1) % {slice_us})::BIGINT) AS ev
        FROM range({lo}, {hi}) t(i)
      )
    ) TO '{out}/events/part-{p}.parquet' (FORMAT parquet)
    """)
con.execute(f"""
COPY (
  SELECT i AS row_id,
         (hash(i, 7) % {users})::BIGINT AS user_id,
         TIMESTAMP '2024-01-01'
           + to_microseconds((hash(i, 8) % {year_us + 31 * 86_400_000_000})::BIGINT)
           AS event_timestamp,
         (hash(i, 9) % 2)::BIGINT AS label
  FROM range({rows}) t(i)
) TO '{out}/entities.parquet' (FORMAT parquet)
""")
print(f"wrote {events} events over {users} users in {parts} files, "
      f"and {rows} entity rows, to {out}")

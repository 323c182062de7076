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
from bench_data_common import args, connect, write_entities, write_parts

out, (events, users, rows, parts) = args(
    {"events": 4_000_000, "users": 20_000, "rows": 2_000_000, "parts": 4})
con = connect()
write_parts(con, out, "events", events, users, parts, """
             ev AS created_timestamp,
             (hash(i, 2) % 1000000) / 100.0 AS amount""")
write_entities(con, out, users, rows)
print(f"wrote {events} events over {users} users in {parts} files, "
      f"and {rows} entity rows, to {out}")

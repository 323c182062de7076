"""What the data generators of the export-vs-DuckDB benches share
(scripts/bench_export_data.py, scripts/bench_agg_export_data.py): their
command line, versions spread over 2024 in Parquet parts, and the entity
table."""
import os
import sys

import duckdb

YEAR_US = 366 * 86_400_000_000


def args(defaults):
    """OUT_DIR, then the integers named by `defaults` (name -> default) in
    order, each optional."""
    out = sys.argv[1]
    values = [int(a) for a in sys.argv[2:2 + len(defaults)]]
    values += list(defaults.values())[len(values):]
    return out, values


def write_parts(con, out, subdir, versions, keys, parts, columns):
    """VERSIONS rows over KEYS keys (user_id) into OUT/SUBDIR/part-K.parquet
    (PARTS files): key i gets VERSIONS / KEYS versions, one in each equal
    slice of 2024 at a pseudo-random time inside it (so no two versions of
    a key share an event time), `ev`; `columns` are the SQL of the other
    output columns, over `i` (the row number) and `ev`."""
    slice_us = YEAR_US // (versions // keys)
    os.makedirs(os.path.join(out, subdir), exist_ok=True)
    per_part = versions // parts
    for p in range(parts):
        lo, hi = p * per_part, (p + 1) * per_part if p + 1 < parts else versions
        con.execute(f"""
        COPY (
          SELECT (i % {keys})::BIGINT AS user_id, ev AS event_timestamp, {columns}
          FROM (
            SELECT i, TIMESTAMP '2024-01-01'
                     + to_microseconds(((i // {keys}) * {slice_us}
                                        + hash(i, 1) % {slice_us})::BIGINT) AS ev
            FROM range({lo}, {hi}) t(i)
          )
        ) TO '{out}/{subdir}/part-{p}.parquet' (FORMAT parquet)
        """)


def write_entities(con, out, keys, rows):
    """OUT/entities.parquet: ROWS rows of a row id, a pseudo-random user_id
    among KEYS, a pseudo-random event_timestamp from 2024-01-01 to
    2025-01-31 (some before a key's first version) and a label."""
    con.execute(f"""
    COPY (
      SELECT i AS row_id,
             (hash(i, 7) % {keys})::BIGINT AS user_id,
             TIMESTAMP '2024-01-01'
               + to_microseconds((hash(i, 8) % {YEAR_US + 31 * 86_400_000_000})::BIGINT)
               AS event_timestamp,
             (hash(i, 9) % 2)::BIGINT AS label
      FROM range({rows}) t(i)
    ) TO '{out}/entities.parquet' (FORMAT parquet)
    """)


def connect():
    """A DuckDB connection in memory."""
    return duckdb.connect()

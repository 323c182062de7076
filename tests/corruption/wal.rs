//! Damaged WAL files: torn tails recover, anything else is corruption at
//! the damaged record.

use super::*;

#[test]
fn wal_cut_anywhere_in_its_last_record_is_a_torn_tail() {
    let batches: [&[i64]; 4] = [&[0, 1], &[2], &[3, 4], &[5]];
    let store = wal_store(&batches);
    let last_start = store.record_starts[batches.len() - 1];
    let end = *store.record_starts.last().unwrap();
    let acknowledged_before_last = [0, 1, 2, 3, 4];
    for cut in last_start..=end {
        let (_tmp, dir, wal) =
            truncated_copy(&store.dir, "wal", store.wal.file_name().unwrap(), cut);
        let engine = Engine::open(&dir, options(SyncPolicy::Never))
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let report = engine.recovery().clone();
        assert_eq!(report.wal_files, 1, "cut at {cut}");
        if cut == last_start || cut == end {
            assert_eq!(
                report.torn_tails,
                vec![],
                "cut at {cut} is at a record boundary"
            );
        } else {
            assert_eq!(
                report.torn_tails,
                vec![(wal.clone(), cut - last_start)],
                "cut at {cut}"
            );
        }
        if cut == end {
            assert_eq!(report.batches, 4);
            assert_holds_exactly(&engine, &[0, 1, 2, 3, 4, 5]);
        } else {
            assert_eq!(report.batches, 3, "cut at {cut}");
            assert_holds_exactly(&engine, &acknowledged_before_last);
        }
        // What recovery kept is durable: a second open finds it in a
        // segment, with no WAL left to replay.
        drop(engine);
        let engine = Engine::open(&dir, options(SyncPolicy::Never)).unwrap();
        assert_eq!(
            engine.recovery().torn_tails,
            vec![],
            "cut at {cut}: reported twice"
        );
        assert_eq!(engine.recovery().batches, 0, "cut at {cut}: replayed twice");
        let want: &[i64] = if cut == end {
            &[0, 1, 2, 3, 4, 5]
        } else {
            &acknowledged_before_last
        };
        assert_holds_exactly(&engine, want);
    }
}

#[test]
fn wal_cut_inside_its_header_loses_nothing_acknowledged() {
    // A WAL file whose header never fully reached the disk held no
    // acknowledged write: it is dropped as a torn tail.
    let store = wal_store(&[]);
    for cut in 0..HEADER_LEN as u64 {
        let (_tmp, dir, wal) =
            truncated_copy(&store.dir, "wal", store.wal.file_name().unwrap(), cut);
        let engine = Engine::open(&dir, options(SyncPolicy::Never))
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(engine.recovery().torn_tails, vec![(wal.clone(), cut)]);
        assert_holds_exactly(&engine, &[]);
    }
}

#[test]
fn wal_bit_flip_before_the_last_record_is_corruption_at_that_record() {
    let store = wal_store(&[&[0, 1], &[2], &[3, 4], &[5]]);
    let starts = &store.record_starts;
    // Every byte of every record but the last (which has records after it).
    for r in 0..starts.len() - 2 {
        for at in starts[r]..starts[r + 1] {
            let (_tmp, dir) = scratch_copy(&store.dir);
            let wal = dir.join("wal").join(store.wal.file_name().unwrap());
            let before = fs::read(&wal).unwrap();
            flip(&wal, at as usize, 0x08);
            let offset = open_corrupt(&dir, &wal);
            assert_eq!(offset, starts[r], "flip at {at} in record {r}");
            // A failed open changes nothing: the damaged file is kept for
            // inspection and no other WAL file appears.
            let mut damaged = before.clone();
            damaged[at as usize] ^= 0x08;
            assert_eq!(fs::read(&wal).unwrap(), damaged);
            assert_eq!(files(&dir, "wal", "log"), vec![wal.clone()]);
        }
    }
}

#[test]
fn wal_bit_flip_in_the_last_record_is_corruption_too() {
    // A whole last record that fails its checksum is damage, not a torn
    // append (its bytes are not zero).
    let store = wal_store(&[&[0, 1], &[2]]);
    let starts = &store.record_starts;
    for at in starts[1]..starts[2] {
        let (_tmp, dir) = scratch_copy(&store.dir);
        let wal = dir.join("wal").join(store.wal.file_name().unwrap());
        flip(&wal, at as usize, 0x40);
        assert_eq!(open_corrupt(&dir, &wal), starts[1], "flip at {at}");
    }
}

#[test]
fn wal_bit_flip_in_the_file_header_is_corruption_at_byte_zero() {
    let store = wal_store(&[&[0], &[1]]);
    for at in 0..HEADER_LEN {
        let (_tmp, dir) = scratch_copy(&store.dir);
        let wal = dir.join("wal").join(store.wal.file_name().unwrap());
        flip(&wal, at, 0x01);
        assert_eq!(open_corrupt(&dir, &wal), 0, "flip at {at}");
    }
}

#[test]
fn wal_file_renamed_to_another_number_is_corruption() {
    let store = wal_store(&[&[0]]);
    let (_tmp, dir) = scratch_copy(&store.dir);
    let wal = dir.join("wal").join(store.wal.file_name().unwrap());
    let renamed = dir.join("wal").join("999999.log");
    fs::rename(&wal, &renamed).unwrap();
    assert_eq!(
        open_corrupt(&dir, &renamed),
        12,
        "the file number is at byte 12 of the header"
    );
}

/// Appends the record `enc` makes (checksums and all) to `wal`; returns
/// where it starts and ends.
fn append_record(wal: &Path, enc: &BatchEncoder, first_seqno: u64) -> (u64, u64) {
    let mut bytes = fs::read(wal).unwrap();
    let start = bytes.len() as u64;
    enc.write_record(first_seqno, &mut bytes);
    fs::write(wal, &bytes).unwrap();
    (start, bytes.len() as u64)
}

#[test]
fn wal_record_that_fails_to_decode_is_reported_at_its_file_offset() {
    // Checksums are fine but the batch is malformed (an op key shorter than
    // an internal key): what a writer bug would leave. The error must point
    // into that record.
    let store = wal_store(&[&[0], &[1]]);
    let (_tmp, dir) = scratch_copy(&store.dir);
    let wal = dir.join("wal").join(store.wal.file_name().unwrap());
    let mut enc = BatchEncoder::default();
    enc.put(EntryKind::Version, b"short", b"row");
    let (start, end) = append_record(&wal, &enc, 3);
    let offset = open_corrupt(&dir, &wal);
    assert!(
        (start..end).contains(&offset),
        "offset {offset} is outside the malformed record, which spans {start}..{end}"
    );
}

#[test]
fn wal_batch_with_no_ops_does_not_panic_recovery() {
    // A record with valid checksums whose batch holds no ops and first
    // seqno 0 (the writer never produces one). Recovery must not panic:
    // either it refuses the file as corrupt or it ignores the empty batch.
    let store = wal_store(&[&[0], &[1]]);
    let (_tmp, dir) = scratch_copy(&store.dir);
    let wal = dir.join("wal").join(store.wal.file_name().unwrap());
    append_record(&wal, &BatchEncoder::default(), 0);
    let opened = std::panic::catch_unwind(|| Engine::open(&dir, options(SyncPolicy::Never)));
    match opened {
        Err(_) => {
            panic!("Engine::open panicked on a checksummed WAL record holding an empty batch")
        }
        Ok(Ok(engine)) => assert_holds_exactly(&engine, &[0, 1]),
        Ok(Err(e)) => {
            corruption_in(Err::<(), _>(e), &wal);
        }
    }
}

#[test]
fn wal_batch_whose_seqnos_overflow_is_corruption() {
    // Two ops numbered from u64::MAX: the second has no sequence number.
    let store = wal_store(&[&[0]]);
    let (_tmp, dir) = scratch_copy(&store.dir);
    let wal = dir.join("wal").join(store.wal.file_name().unwrap());
    let mut enc = BatchEncoder::default();
    let mut key = Vec::new();
    for k in [1, 2] {
        let v = version_of(k);
        internal_key(VIEW, &encode_int_key(k), v.event_ts, v.created_ts, &mut key);
        enc.put(EntryKind::Version, &key, &v.row);
    }
    let (start, end) = append_record(&wal, &enc, u64::MAX);
    let opened =
        std::panic::catch_unwind(|| Engine::open(&dir, options(SyncPolicy::Never)).map(|_| ()));
    match opened {
        Err(_) => {
            panic!("Engine::open panicked on a WAL batch whose sequence numbers overflow u64")
        }
        Ok(result) => {
            let offset = corruption_in(result, &wal);
            assert!(
                (start..end).contains(&offset),
                "offset {offset} is outside the record at {start}..{end}"
            );
        }
    }
}

#[test]
fn wal_bit_flip_in_a_trailing_delete_is_not_mistaken_for_a_torn_tail() {
    // The last record is an acknowledged (fsynced) delete. A delete's key
    // ends in 16 zero bytes (its two timestamps) and its row length is 0, so
    // its payload ends in 17 zero bytes: it looks like a record whose end
    // never reached the disk. A flipped bit anywhere in it is still damage;
    // taking it for a torn append would bring the deleted versions back.
    let live = tempfile::tempdir().unwrap();
    let engine = Engine::open(live.path(), options(SyncPolicy::Always)).unwrap();
    put(&engine, [0, 1]);
    let wal = only_file(live.path(), "wal", "log");
    let delete_at = fs::metadata(&wal).unwrap().len();
    let mut b = WriteBatch::default();
    b.delete(VIEW, &encode_int_key(1)).unwrap();
    engine.write(&b).unwrap();
    let end = fs::metadata(&wal).unwrap().len();
    let (_tmp, clean) = scratch_copy(live.path());
    drop(engine);
    for at in delete_at..end {
        let (_tmp, dir) = scratch_copy(&clean);
        let wal = dir.join("wal").join(wal.file_name().unwrap());
        flip(&wal, at as usize, 0x02);
        match Engine::open(&dir, options(SyncPolicy::Never)) {
            Err(Error::Corruption { path, offset, .. }) => {
                assert_eq!(path, wal);
                assert_eq!(offset, delete_at, "flip at {at}");
            }
            Err(e) => panic!(
                "flip at {at}: expected corruption in {}, got {e}",
                wal.display()
            ),
            Ok(engine) => {
                let resurrected = engine.latest(VIEW, &encode_int_key(1), None).unwrap();
                panic!(
                    "flip at {at}: a damaged, acknowledged delete was dropped as a torn tail ({:?}); \
                     key 1 reads {:?}",
                    engine.recovery().torn_tails,
                    resurrected
                );
            }
        }
    }
}

#[test]
fn batch_larger_than_a_wal_record_never_makes_the_wal_unreadable() {
    // A WAL record holds at most MAX_RECORD_LEN payload bytes, and recovery
    // refuses a longer one as corruption. A batch that would need a longer
    // record must be refused before anything is written; if it is accepted,
    // it must be readable, and the store must still open.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let engine = Engine::open(&dir, options(SyncPolicy::Never)).unwrap();
    put(&engine, [0]);
    let big = vec![0x5a; MAX_RECORD_LEN + 1];
    let mut b = WriteBatch::default();
    let v = version_of(1);
    let accepted = b
        .put(VIEW, &encode_int_key(1), v.event_ts, v.created_ts, &big)
        .and_then(|()| engine.write(&b));
    drop(b);
    match &accepted {
        Ok(()) => {
            let got = engine.latest(VIEW, &encode_int_key(1), None).unwrap();
            assert!(
                got.as_ref().is_some_and(|g| g.row.len() == big.len()),
                "an acknowledged batch of {} bytes is not readable",
                big.len()
            );
        }
        Err(Error::InvalidWrite(_)) => {}
        Err(e) => panic!("an oversized batch failed with {e}"),
    }
    put(&engine, [2]);
    drop(engine);
    let engine = Engine::open(&dir, options(SyncPolicy::Never))
        .unwrap_or_else(|e| panic!("the store no longer opens after an oversized batch: {e}"));
    assert_eq!(
        engine.latest(VIEW, &encode_int_key(0), None).unwrap(),
        Some(version_of(0))
    );
    assert_eq!(
        engine.latest(VIEW, &encode_int_key(2), None).unwrap(),
        Some(version_of(2))
    );
    let one = engine.latest(VIEW, &encode_int_key(1), None).unwrap();
    assert_eq!(
        one.is_some(),
        accepted.is_ok(),
        "key 1 after reopen: {:?}",
        one.map(|v| v.row.len())
    );
}

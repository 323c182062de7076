//! Tests of [`super`].

use super::*;
use crate::key::{encode_int_key, internal_key};
use std::collections::BTreeMap;

fn build(entries: &BTreeMap<Vec<u8>, Vec<u8>>, opts: SegmentOptions) -> Vec<u8> {
    let mut b = SegmentBuilder::new(opts);
    let mut file = Vec::new();
    for (k, v) in entries {
        b.add(k, EntryKind::Version, v).unwrap();
        file.extend(b.take_output());
    }
    let (tail, props) = b.finish();
    file.extend(tail);
    assert_eq!(props.entries, entries.len() as u64);
    file
}

fn sample(n: i64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut m = BTreeMap::new();
    for k in 0..n {
        for t in 0..3 {
            let mut key = Vec::new();
            internal_key(1, &encode_int_key(k * 2), t * 10, t, &mut key);
            m.insert(key, vec![(k % 251) as u8; 30]);
        }
    }
    m
}

fn seek_all(file: &[u8], layout: &SegmentLayout, target: &[u8]) -> Option<Vec<u8>> {
    let (_, h) = layout.find_block(file, target).unwrap()?;
    let mut scratch = Vec::new();
    let block = Block::new(data_block(file, h, true, &mut scratch).unwrap()).unwrap();
    let it = block.seek(target, Vec::new()).unwrap();
    assert!(
        it.valid(),
        "the block whose last key is >= target has an entry >= target"
    );
    Some(it.key().to_vec())
}

#[test]
fn finds_every_key_and_the_next_one() {
    for zstd_level in [None, Some(1)] {
        let m = sample(2000);
        let file = build(
            &m,
            SegmentOptions {
                zstd_level,
                ..SegmentOptions::default()
            },
        );
        let layout = SegmentLayout::parse(&file).unwrap();
        assert!(layout.data_blocks() > 10);
        assert_eq!(layout.props.prefixes, 2000);
        assert_eq!(
            (layout.props.min_event_ts, layout.props.max_event_ts),
            (0, 20)
        );
        let bloom = layout.bloom(&file);
        for k in m.keys().step_by(7) {
            assert_eq!(seek_all(&file, &layout, k).as_deref(), Some(k.as_slice()));
            assert!(bloom.may_contain(bloom::hash(key::split(k).unwrap().prefix)));
            // A key between two stored ones finds the next one.
            let mut probe = k.clone();
            probe.push(0);
            let want = m.range(probe.clone()..).next().map(|(k, _)| k.clone());
            assert_eq!(seek_all(&file, &layout, &probe), want);
        }
    }
}

/// Every prefix's first entry is where the hash index says, in both
/// versions; in version 2 it decodes on its own at its file offset (or
/// lies in the compressed block named).
#[test]
fn hash_index_names_each_prefix_first_entry() {
    for (format_version, zstd_level) in [(1, None), (2, None), (2, Some(1)), (1, Some(1))] {
        let m = sample(700);
        let opts = SegmentOptions {
            format_version,
            zstd_level,
            block_size: 512,
            ..SegmentOptions::default()
        };
        let file = build(&m, opts);
        let layout = SegmentLayout::parse(&file).unwrap();
        assert_eq!(layout.version(), format_version);
        let hidx = layout.hash_index(&file);
        assert!(hidx.is_present() && hidx.is_direct() == (format_version == 2));
        let mut seen = 0;
        for k in m.keys().step_by(3) {
            let prefix = key::split(k).unwrap().prefix;
            let first = m.keys().find(|x| x.starts_with(prefix)).unwrap();
            if k != first {
                continue;
            }
            seen += 1;
            let found = hidx.candidates(bloom::hash(prefix)).any(|p| match p {
                Position::Entry(at) => layout.entry_at(&file, at).unwrap().key == k.as_slice(),
                Position::Block(b) | Position::Restart { block: b, .. } => {
                    let (offset, len) = hidx.block(b).unwrap();
                    let mut scratch = Vec::new();
                    let h = BlockHandle { offset, len };
                    let bytes = data_block(&file, h, true, &mut scratch).unwrap();
                    let it = Block::new(bytes).unwrap().seek(k, Vec::new()).unwrap();
                    it.key() == k.as_slice()
                }
            });
            assert!(found, "format {format_version}: {k:?}");
        }
        assert!(seen > 100);
        if format_version == 2 && zstd_level.is_none() {
            let direct = (0..700)
                .filter(|&i| {
                    let mut p = Vec::new();
                    key::prefix(1, &encode_int_key(i * 2), &mut p);
                    matches!(
                        hidx.candidates(bloom::hash(&p)).next(),
                        Some(Position::Entry(_))
                    )
                })
                .count();
            assert_eq!(direct, 700, "every prefix of a plain segment is direct");
        }
    }
}

#[test]
fn every_damage_is_an_error_not_a_panic() {
    let file = build(&sample(50), SegmentOptions::default());
    for cut in [0, 10, file.len() / 2, file.len() - 1] {
        assert!(SegmentLayout::parse(&file[..cut]).is_err(), "cut at {cut}");
    }
    for at in (file.len() - 200..file.len()).step_by(3) {
        let mut bad = file.clone();
        bad[at] ^= 0x10;
        assert!(SegmentLayout::parse(&bad).is_err(), "flip at {at}");
    }
}

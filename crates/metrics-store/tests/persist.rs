//! Closed chunks written to segment files come back bit for bit; damage of every kind (a file
//! cut at every byte of its last record, flipped bytes, garbage, absurd lengths, random
//! splices) is skipped and reported while everything around it is kept; segments rotate and
//! the disk budget deletes the oldest.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

mod support;

use std::fs;
use std::path::Path;

use hardening_metrics_store::{
    Chunk, ChunkLog, Corruption, CorruptionKind, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES,
    PersistError, PersistOptions, Recovered, Sample, SeriesKey, SyncPolicy,
};
use proptest::prelude::*;
use support::{TempDir, chunk, chunk_payload, record, segments};

fn open(dir: &Path) -> (ChunkLog, Recovered) {
    ChunkLog::open(PersistOptions::builder(dir).build().unwrap()).unwrap()
}

fn keys() -> Vec<SeriesKey> {
    vec![
        SeriesKey::new("http_requests_total", [("route", "/"), ("method", "GET")]),
        SeriesKey::new("queue_depth", []),
        SeriesKey::new("température_°C", [("salle", "é"), ("empty", "")]),
    ]
}

/// Appends `chunks` one by one and returns the file size after each, so the tests know where
/// every record starts and ends.
fn write_one_segment(dir: &Path, chunks: &[(SeriesKey, Chunk)]) -> Vec<u64> {
    let (mut log, _) = open(dir);
    let mut ends = Vec::new();
    for (key, chunk) in chunks {
        log.append(key, chunk).unwrap();
        ends.push(log.disk_bytes());
    }
    assert_eq!(segments(dir).len(), 1, "the test wants one segment");
    ends
}

fn sample_chunks(count: usize, samples: usize) -> Vec<(SeriesKey, Chunk)> {
    let keys = keys();
    (0..count)
        .map(|i| (keys[i % keys.len()].clone(), chunk(i as u64, samples)))
        .collect()
}

#[test]
fn chunks_of_several_series_come_back_bit_for_bit() {
    for sync in [SyncPolicy::Never, SyncPolicy::EveryAppend] {
        let dir = TempDir::new("round-trip");
        let written = sample_chunks(12, 120);
        {
            let options = PersistOptions::builder(dir.path())
                .sync(sync)
                .build()
                .unwrap();
            let (mut log, recovered) = ChunkLog::open(options).unwrap();
            assert!(recovered.chunks.is_empty() && recovered.problems.is_empty());
            for (key, chunk) in &written {
                log.append(key, chunk).unwrap();
            }
            log.flush().unwrap();
            assert_eq!(
                log.disk_bytes(),
                fs::metadata(&segments(dir.path())[0]).unwrap().len()
            );
        }
        let (_log, recovered) = open(dir.path());
        assert!(recovered.problems.is_empty(), "{:?}", recovered.problems);
        assert_eq!(recovered.chunks, written);
        for ((_, back), (_, sent)) in recovered.chunks.iter().zip(&written) {
            let back: Vec<Sample> = back.iter().collect();
            let sent: Vec<Sample> = sent.iter().collect();
            // `Sample` compares bits: NaN payloads, -0.0 and the infinities included.
            assert_eq!(back, sent);
        }
        let values: Vec<u64> = recovered
            .chunks
            .iter()
            .flat_map(|(_, c)| c.iter().map(|s| s.value.to_bits()))
            .collect();
        for special in [f64::NAN, -0.0, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(
                values.contains(&special.to_bits()),
                "{special} is exercised"
            );
        }
    }
}

#[test]
fn opening_without_appending_leaves_no_file_and_a_new_run_appends_to_a_new_segment() {
    let dir = TempDir::new("fresh-segment");
    let written = sample_chunks(3, 20);
    write_one_segment(dir.path(), &written[..2]);
    for _ in 0..3 {
        let (_log, recovered) = open(dir.path());
        assert_eq!(recovered.chunks, written[..2]);
    }
    assert_eq!(segments(dir.path()).len(), 1);
    let (mut log, _) = open(dir.path());
    log.append(&written[2].0, &written[2].1).unwrap();
    let files = segments(dir.path());
    let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap()).collect();
    assert_eq!(names, ["00000001.chunks", "00000002.chunks"]);
    drop(log);
    assert_eq!(open(dir.path()).1.chunks, written);
}

#[test]
fn a_record_laid_out_as_documented_is_read() {
    let dir = TempDir::new("layout");
    fs::create_dir_all(dir.path()).unwrap();
    // Two samples at the same value 10 ms apart: 64 + 64 bits whole, then '10' and 7 bits for
    // the delta-of-delta 10 (stored as 10 + 63), then '0' for an unchanged value.
    let (t, v) = (1_700_000_000_000i64, 2.5f64);
    let mut bits = t.to_be_bytes().to_vec();
    bits.extend_from_slice(&v.to_bits().to_be_bytes());
    bits.extend_from_slice(&[0b1010_0100, 0b1000_0000]);
    let payload = chunk_payload("up", &[("job", "api")], 2, 128 + 2 + 7 + 1, &bits);
    let bytes = record(1, 0, payload.len() as u32, &payload);
    fs::write(dir.path().join("00000001.chunks"), &bytes).unwrap();

    let (_log, recovered) = open(dir.path());
    assert!(recovered.problems.is_empty(), "{:?}", recovered.problems);
    let [(key, chunk)] = &recovered.chunks[..] else {
        panic!("one chunk expected, got {:?}", recovered.chunks);
    };
    assert_eq!(key, &SeriesKey::new("up", [("job", "api")]));
    let samples: Vec<Sample> = chunk.iter().collect();
    assert_eq!(
        samples,
        [
            Sample {
                timestamp: t,
                value: v
            },
            Sample {
                timestamp: t + 10,
                value: v
            }
        ]
    );
}

#[test]
fn a_file_cut_at_every_byte_of_its_last_record_loses_only_that_record() {
    let dir = TempDir::new("cut");
    let written = sample_chunks(4, 30);
    let ends = write_one_segment(dir.path(), &written);
    let file = segments(dir.path()).remove(0);
    let whole = fs::read(&file).unwrap();
    let last_start = ends[2];
    let extra = chunk(99, 7);
    for cut in last_start..=ends[3] {
        fs::remove_dir_all(dir.path()).unwrap();
        fs::create_dir_all(dir.path()).unwrap();
        fs::write(&file, &whole[..cut as usize]).unwrap();

        let (mut log, recovered) = open(dir.path());
        let intact = if cut == ends[3] { 4 } else { 3 };
        assert_eq!(recovered.chunks, written[..intact], "cut at {cut}");
        if cut == last_start || cut == ends[3] {
            assert!(recovered.problems.is_empty(), "cut at {cut}");
        } else {
            assert_eq!(
                recovered.problems,
                [Corruption {
                    file: file.clone(),
                    offset: last_start,
                    skipped_bytes: cut - last_start,
                    kind: CorruptionKind::TornTail,
                }],
                "cut at {cut}"
            );
            assert_eq!(
                fs::metadata(&file).unwrap().len(),
                last_start,
                "the tail is cut off"
            );
        }
        // Appends go on, in a new segment, and read back with everything before them.
        log.append(&written[0].0, &extra).unwrap();
        drop(log);
        let (_log, again) = open(dir.path());
        assert!(
            again.problems.is_empty(),
            "a torn tail is reported once (cut at {cut})"
        );
        let mut expected = written[..intact].to_vec();
        expected.push((written[0].0.clone(), extra.clone()));
        assert_eq!(again.chunks, expected, "cut at {cut}");
    }
}

#[test]
fn a_flipped_byte_anywhere_in_a_middle_record_costs_that_record_alone() {
    let dir = TempDir::new("flip");
    let written = sample_chunks(5, 25);
    let ends = write_one_segment(dir.path(), &written);
    let file = segments(dir.path()).remove(0);
    let whole = fs::read(&file).unwrap();
    let (start, end) = (ends[1], ends[2]);
    for at in start..end {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut damaged = whole.clone();
            damaged[at as usize] ^= flip;
            fs::write(&file, &damaged).unwrap();
            let (_log, recovered) = open(dir.path());
            let mut expected = written.clone();
            expected.remove(2);
            assert_eq!(recovered.chunks, expected, "byte {at} ^ {flip:#x}");
            let [problem] = &recovered.problems[..] else {
                panic!(
                    "one problem expected at byte {at}: {:?}",
                    recovered.problems
                );
            };
            assert_eq!(
                (problem.offset, problem.skipped_bytes),
                (start, end - start)
            );
            // The header (bytes 0..18) has its own checksum; the payload's is separate.
            if at - start < 18 {
                assert!(
                    matches!(problem.kind, CorruptionKind::BadHeader { .. }),
                    "{problem}"
                );
            } else {
                assert_eq!(problem.kind, CorruptionKind::BadChecksum, "{problem}");
            }
            // Damage other than a torn tail stays on disk, for a person to look at.
            assert_eq!(fs::read(&file).unwrap(), damaged);
        }
    }
}

#[test]
fn garbage_before_between_and_after_records_is_reported_and_the_records_kept() {
    let dir = TempDir::new("garbage");
    let written = sample_chunks(2, 10);
    let ends = write_one_segment(dir.path(), &written);
    let file = segments(dir.path()).remove(0);
    let whole = fs::read(&file).unwrap();
    let garbage = b"this is not a record\n";
    let split = ends[0] as usize;
    let mut data = garbage.to_vec();
    data.extend_from_slice(&whole[..split]);
    data.extend_from_slice(garbage);
    data.extend_from_slice(&whole[split..]);
    data.extend_from_slice(garbage);
    fs::write(&file, &data).unwrap();

    let (_log, recovered) = open(dir.path());
    assert_eq!(recovered.chunks, written);
    let g = garbage.len() as u64;
    let no_marker = CorruptionKind::BadHeader {
        reason: "no record marker",
    };
    let found: Vec<(u64, u64, CorruptionKind)> = recovered
        .problems
        .iter()
        .map(|p| (p.offset, p.skipped_bytes, p.kind))
        .collect();
    assert_eq!(
        found,
        [
            (0, g, no_marker),
            (g + ends[0], g, no_marker),
            (2 * g + ends[1], g, no_marker),
        ]
    );
    assert_eq!(
        fs::read(&file).unwrap(),
        data,
        "garbage is not a torn tail: left as found"
    );
}

#[test]
fn a_wrong_marker_and_absurd_lengths_are_bad_headers() {
    let dir = TempDir::new("headers");
    let written = sample_chunks(3, 10);
    let ends = write_one_segment(dir.path(), &written);
    let file = segments(dir.path()).remove(0);
    let whole = fs::read(&file).unwrap();
    let second = ends[0] as usize;

    let mut wrong_marker = whole.clone();
    wrong_marker[second + 1] = b'X';
    // A length of 4 GiB under a header whose checksum does not match it.
    let mut broken_length = whole.clone();
    broken_length[second + 6..second + 10].copy_from_slice(&u32::MAX.to_le_bytes());
    // Lengths above the 64 MiB bound, and within it but far past the file, under headers whose
    // checksums do match, before the first record.
    let mut absurd = record(1, 0, u32::MAX, b"");
    absurd.extend_from_slice(&record(1, 0, 64 << 20, b""));
    absurd.extend_from_slice(&whole);

    for (name, data, bad_at, bad_len) in [
        ("wrong marker", wrong_marker, ends[0], ends[1] - ends[0]),
        ("broken length", broken_length, ends[0], ends[1] - ends[0]),
        ("absurd lengths", absurd, 0, 36),
    ] {
        fs::write(&file, &data).unwrap();
        let (_log, recovered) = open(dir.path());
        let skipped_record = if bad_at == 0 { None } else { Some(1) };
        let expected: Vec<_> = (0..3)
            .filter(|&i| Some(i) != skipped_record)
            .map(|i| written[i].clone())
            .collect();
        assert_eq!(recovered.chunks, expected, "{name}");
        let reported: u64 = recovered.problems.iter().map(|p| p.skipped_bytes).sum();
        assert_eq!(reported, bad_len, "{name}: {:?}", recovered.problems);
        assert_eq!(recovered.problems[0].offset, bad_at, "{name}");
        for p in &recovered.problems {
            assert!(
                matches!(p.kind, CorruptionKind::BadHeader { .. }),
                "{name}: {p}"
            );
        }
    }
}

#[test]
fn records_of_a_newer_format_are_skipped_and_named() {
    let dir = TempDir::new("newer");
    let written = sample_chunks(1, 10);
    write_one_segment(dir.path(), &written);
    let file = segments(dir.path()).remove(0);
    let mut data = record(2, 0, 5, b"hello");
    data.extend_from_slice(&record(1, 9, 0, b""));
    data.extend_from_slice(&fs::read(&file).unwrap());
    fs::write(&file, &data).unwrap();
    let (_log, recovered) = open(dir.path());
    assert_eq!(recovered.chunks, written);
    let kinds: Vec<_> = recovered.problems.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            CorruptionKind::UnknownRecord {
                version: 2,
                kind: 0
            },
            CorruptionKind::UnknownRecord {
                version: 1,
                kind: 9
            },
        ]
    );
}

#[test]
fn a_verified_record_that_does_not_rebuild_its_chunk_exactly_is_not_loaded() {
    let dir = TempDir::new("undecodable");
    fs::create_dir_all(dir.path()).unwrap();
    // One sample whose bit stream has a padding bit set: the samples decode, but encoding them
    // again does not give the stored bits.
    let mut bits = 5i64.to_be_bytes().to_vec();
    bits.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
    bits.push(0b0100_0000);
    let payload = chunk_payload("x", &[], 1, 129, &bits);
    fs::write(
        dir.path().join("00000001.chunks"),
        record(1, 0, payload.len() as u32, &payload),
    )
    .unwrap();
    let (_log, recovered) = open(dir.path());
    assert!(recovered.chunks.is_empty());
    assert_eq!(
        recovered.problems[0].kind,
        CorruptionKind::UndecodableChunk {
            reason: "the samples do not encode back to the stored bits"
        }
    );
    assert!(
        recovered.problems[0]
            .to_string()
            .contains("00000001.chunks")
    );
}

#[test]
fn segments_rotate_at_segment_bytes_and_read_back_in_order() {
    let dir = TempDir::new("rotate");
    let options = PersistOptions::builder(dir.path())
        .segment_bytes(MIN_SEGMENT_BYTES)
        .build()
        .unwrap();
    let written = sample_chunks(40, 12);
    let (mut log, _) = ChunkLog::open(options.clone()).unwrap();
    for (key, chunk) in &written {
        let before = log.disk_bytes();
        let full = segments(dir.path())
            .last()
            .map(|f| fs::metadata(f).unwrap().len());
        log.append(key, chunk).unwrap();
        let record = log.disk_bytes() - before;
        if let Some(full) = full.filter(|_| segments(dir.path()).len() > 1)
            && segments(dir.path())
                .last()
                .unwrap()
                .metadata()
                .unwrap()
                .len()
                == record
        {
            // This record started a segment: the one before had no room for it.
            assert!(full + record > MIN_SEGMENT_BYTES, "{full} + {record}");
        }
    }
    let files = segments(dir.path());
    assert!(files.len() >= 4, "{} segments", files.len());
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| fs::metadata(f).unwrap().len())
        .collect();
    assert!(sizes.iter().all(|&s| s <= MIN_SEGMENT_BYTES), "{sizes:?}");
    for (i, file) in files.iter().enumerate() {
        assert_eq!(
            file.file_name().unwrap().to_str().unwrap(),
            format!("{:08}.chunks", i + 1)
        );
    }
    assert_eq!(log.disk_bytes(), sizes.iter().sum::<u64>());
    // Syncs every segment written in this run, closed ones included.
    log.flush().unwrap();
    drop(log);
    let (_log, recovered) = ChunkLog::open(options).unwrap();
    assert!(recovered.problems.is_empty());
    assert_eq!(recovered.chunks, written);
}

#[test]
fn the_disk_budget_deletes_the_oldest_segments_and_never_is_passed() {
    let dir = TempDir::new("budget");
    let budget = 3 * MIN_SEGMENT_BYTES;
    let options = PersistOptions::builder(dir.path())
        .segment_bytes(MIN_SEGMENT_BYTES)
        .max_disk_bytes(budget)
        .build()
        .unwrap();
    let written = sample_chunks(120, 12);
    let (mut log, _) = ChunkLog::open(options.clone()).unwrap();
    for (key, chunk) in &written {
        log.append(key, chunk).unwrap();
        let on_disk: u64 = segments(dir.path())
            .iter()
            .map(|f| fs::metadata(f).unwrap().len())
            .sum();
        assert_eq!(log.disk_bytes(), on_disk);
        assert!(on_disk <= budget, "{on_disk} bytes on disk");
    }
    drop(log);
    // What is left is the newest segments, numbered without a gap up to the last one.
    let files = segments(dir.path());
    let numbers: Vec<u64> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();
    assert!(numbers[0] > 1, "the oldest were deleted: {numbers:?}");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    // They hold the newest chunks, all of them, in order.
    let (_log, recovered) = ChunkLog::open(options).unwrap();
    let kept = recovered.chunks.len();
    assert!(kept > 0 && kept < written.len());
    assert_eq!(recovered.chunks, written[written.len() - kept..]);

    // A smaller budget on the next start deletes the oldest before reading.
    let smaller = PersistOptions::builder(dir.path())
        .segment_bytes(MIN_SEGMENT_BYTES)
        .max_disk_bytes(MIN_SEGMENT_BYTES)
        .build()
        .unwrap();
    let (log, recovered) = ChunkLog::open(smaller).unwrap();
    assert!(log.disk_bytes() <= MIN_SEGMENT_BYTES);
    assert_eq!(segments(dir.path()).len(), 1);
    assert_eq!(
        recovered.chunks,
        written[written.len() - recovered.chunks.len()..]
    );
}

#[test]
fn a_record_larger_than_a_segment_is_refused_and_nothing_is_written() {
    let dir = TempDir::new("too-large");
    let options = PersistOptions::builder(dir.path())
        .segment_bytes(MIN_SEGMENT_BYTES)
        .build()
        .unwrap();
    let (mut log, _) = ChunkLog::open(options).unwrap();
    let big = chunk(1, 1_000);
    let err = log.append(&keys()[0], &big).unwrap_err();
    assert!(
        matches!(err, PersistError::RecordTooLarge { bytes, limit } if bytes > limit && limit == MIN_SEGMENT_BYTES),
        "{err}"
    );
    assert!(err.to_string().contains("segment_bytes"), "{err}");
    assert_eq!(log.disk_bytes(), 0);
    assert!(segments(dir.path()).is_empty());
    // The log is still usable.
    log.append(&keys()[0], &chunk(2, 10)).unwrap();
}

#[test]
fn files_that_are_not_segments_are_left_alone_and_an_oversized_segment_is_not_read() {
    let dir = TempDir::new("others");
    let written = sample_chunks(2, 10);
    write_one_segment(dir.path(), &written);
    fs::write(dir.path().join("notes.txt"), "keep me").unwrap();
    fs::write(dir.path().join("00000001.chunks.bak"), "keep me too").unwrap();
    // Not a file, so not a segment; but its number is taken.
    fs::create_dir(dir.path().join("00000004.chunks")).unwrap();
    // Sparse: takes no room, but says it holds more than any segment may.
    let huge = dir.path().join("00000003.chunks");
    fs::File::create(&huge)
        .unwrap()
        .set_len(MAX_SEGMENT_BYTES + 1)
        .unwrap();
    let options = PersistOptions::builder(dir.path())
        .max_disk_bytes(4 * MAX_SEGMENT_BYTES)
        .build()
        .unwrap();
    let (mut log, recovered) = ChunkLog::open(options).unwrap();
    assert_eq!(recovered.chunks, written);
    assert_eq!(
        recovered.problems,
        [Corruption {
            file: huge,
            offset: 0,
            skipped_bytes: MAX_SEGMENT_BYTES + 1,
            kind: CorruptionKind::OversizedSegment,
        }]
    );
    log.append(&written[0].0, &written[0].1).unwrap();
    assert!(
        dir.path().join("00000005.chunks").is_file(),
        "numbers go on after the highest, past a name already taken"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "keep me"
    );
    assert!(dir.path().join("00000001.chunks.bak").is_file());
}

#[test]
fn each_setting_that_is_out_of_range_is_named() {
    let builder = || PersistOptions::builder("/m");
    let cases = [
        (
            PersistOptions::builder("").build(),
            "dir",
            "a directory path",
        ),
        (builder().segment_bytes(0).build(), "segment_bytes", "1024"),
        (
            builder().segment_bytes(MIN_SEGMENT_BYTES - 1).build(),
            "segment_bytes",
            "1 GiB",
        ),
        (
            builder().segment_bytes(MAX_SEGMENT_BYTES + 1).build(),
            "segment_bytes",
            "1 KiB",
        ),
        (
            builder().max_disk_bytes(0).build(),
            "max_disk_bytes",
            "8388608",
        ),
        (
            builder()
                .segment_bytes(1 << 20)
                .max_disk_bytes((1 << 20) - 1)
                .build(),
            "max_disk_bytes",
            "at least segment_bytes (1048576)",
        ),
    ];
    for (result, field, hint) in cases {
        let err = result.unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
        let text = err.to_string();
        assert!(text.starts_with(&format!("{field}: ")), "{text}");
        assert!(text.contains(hint), "{text}");
    }
    let ok = PersistOptions::builder("/m")
        .segment_bytes(MIN_SEGMENT_BYTES)
        .max_disk_bytes(MIN_SEGMENT_BYTES)
        .build()
        .unwrap();
    assert_eq!(ok.max_disk_bytes(), ok.segment_bytes());
}

#[test]
fn a_directory_that_cannot_be_made_is_an_error_naming_it() {
    let dir = TempDir::new("not-a-dir");
    fs::write(dir.path(), "a file").unwrap();
    let err = ChunkLog::open(
        PersistOptions::builder(dir.path().join("sub"))
            .build()
            .unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, PersistError::Io { .. }), "{err}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    fs::remove_file(dir.path()).unwrap();
}

/// How a valid log is damaged in the property below.
#[derive(Debug, Clone)]
enum Damage {
    /// Random bytes put in at a position.
    Insert(usize, Vec<u8>),
    /// Random bytes written over a stretch.
    Overwrite(usize, Vec<u8>),
    /// The file cut at a position.
    Cut(usize),
    /// A stretch of the log itself copied in at a position: real markers and headers where
    /// they do not belong.
    Duplicate(usize, usize, usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..64),
        // Starts of records: the marker, then noise.
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|mut tail| {
            let mut v = vec![0x89, b'H', b'M', b'C', 1, 0];
            v.append(&mut tail);
            v
        }),
    ];
    prop_oneof![
        (any::<usize>(), bytes.clone()).prop_map(|(at, b)| Damage::Insert(at, b)),
        (any::<usize>(), bytes).prop_map(|(at, b)| Damage::Overwrite(at, b)),
        any::<usize>().prop_map(Damage::Cut),
        (any::<usize>(), any::<usize>(), 1usize..200)
            .prop_map(|(at, from, len)| Damage::Duplicate(at, from, len)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever is spliced into a log, the reader does not panic, every chunk it returns was
    /// written, every record the damage did not touch comes back, and a lost record is
    /// reported.
    #[test]
    fn damage_never_panics_never_invents_a_chunk_and_costs_only_what_it_touched(
        sizes in proptest::collection::vec(1usize..40, 1..6),
        hits in proptest::collection::vec(damage(), 1..3),
    ) {
        let dir = TempDir::new("prop");
        let written: Vec<(SeriesKey, Chunk)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (keys()[i % 3].clone(), chunk(i as u64 * 31 + n as u64, n)))
            .collect();
        let ends = write_one_segment(dir.path(), &written);
        let file = segments(dir.path()).remove(0);
        let mut data = fs::read(&file).unwrap();
        // Each record's [start, end), whether damage touched it, and whether a cut took all of
        // it.
        let mut spans: Vec<(usize, usize, bool, bool)> = ends
            .iter()
            .scan(0usize, |start, &end| {
                let span = (*start, end as usize, false, false);
                *start = end as usize;
                Some(span)
            })
            .collect();
        let mut duplicated = false;
        for hit in &hits {
            let len = data.len();
            // Positions move when bytes are put in: shift the spans after them.
            let mut insert = |data: &mut Vec<u8>, at: usize, bytes: &[u8]| {
                data.splice(at..at, bytes.iter().copied());
                for span in &mut spans {
                    if at > span.0 && at < span.1 {
                        span.2 = true;
                    }
                    if span.0 >= at {
                        span.0 += bytes.len();
                    }
                    if span.1 > at {
                        span.1 += bytes.len();
                    }
                }
            };
            match hit {
                Damage::Insert(at, bytes) => insert(&mut data, at % (len + 1), bytes),
                Damage::Duplicate(at, from, n) => {
                    let from = from % (len + 1);
                    let copy = data[from..(from + n).min(len)].to_vec();
                    duplicated = true;
                    insert(&mut data, at % (len + 1), &copy);
                }
                Damage::Overwrite(at, bytes) => {
                    let at = at % (len + 1);
                    let end = (at + bytes.len()).min(len);
                    data[at..end].copy_from_slice(&bytes[..end - at]);
                    for span in &mut spans {
                        if at < span.1 && end > span.0 {
                            span.2 = true;
                        }
                    }
                }
                Damage::Cut(at) => {
                    let at = at % (len + 1);
                    data.truncate(at);
                    for span in &mut spans {
                        if span.1 > at {
                            span.2 = true;
                        }
                        if span.0 >= at {
                            // Gone without a trace: a file cut between records cannot tell.
                            span.3 = true;
                        }
                    }
                }
            }
        }
        fs::write(&file, &data).unwrap();

        let (_log, recovered) = open(dir.path());
        let back = &recovered.chunks;
        if duplicated {
            // A copied stretch may hold a whole record: that chunk can come back twice, but
            // nothing that was not written comes back.
            for chunk in back {
                prop_assert!(written.contains(chunk));
            }
        } else {
            // In the order written, each at most once.
            let mut rest = written.iter();
            for chunk in back {
                prop_assert!(rest.any(|w| w == chunk), "a chunk not written, or out of order");
            }
        }
        for (i, &(_, _, touched, _)) in spans.iter().enumerate() {
            if !touched {
                prop_assert!(back.contains(&written[i]), "untouched record {} lost", i);
            }
        }
        let lost = written
            .iter()
            .zip(&spans)
            .filter(|(w, span)| !span.3 && !back.contains(w))
            .count();
        if lost > 0 {
            prop_assert!(!recovered.problems.is_empty(), "{} records lost unreported", lost);
        }
        for p in &recovered.problems {
            prop_assert!(p.offset + p.skipped_bytes <= data.len() as u64);
        }
    }
}

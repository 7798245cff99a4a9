//! Lengths read from a damaged file are never trusted for an allocation: a segment of a few
//! hundred bytes whose headers declare 64 MiB and 4 GiB payloads, and whose payload declares
//! four billion labels, is read with no allocation larger than the file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]
// A global allocator can only be written with `unsafe`; this one only measures and delegates.
#![allow(unsafe_code)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs;

use hardening_metrics_store::{ChunkLog, CorruptionKind, PersistOptions};
use support::{TempDir, chunk_payload, record};

struct Measuring;

thread_local! {
    // Const-initialised, so reading them never allocates. `None` when not measuring.
    static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
}

fn note(size: usize) {
    LARGEST.with(|largest| {
        if let Some(seen) = largest.get() {
            largest.set(Some(seen.max(size)));
        }
    });
}

unsafe impl GlobalAlloc for Measuring {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Measuring = Measuring;

fn largest_allocation_during<T>(f: impl FnOnce() -> T) -> (usize, T) {
    LARGEST.with(|l| l.set(Some(0)));
    let out = f();
    let largest = LARGEST.with(|l| l.replace(None)).unwrap_or(0);
    (largest, out)
}

#[test]
fn declared_lengths_and_counts_allocate_nothing_beyond_the_file() {
    let dir = TempDir::new("alloc");
    fs::create_dir_all(dir.path()).unwrap();
    // Checksums all good, so every length below is read and judged.
    let mut data = record(1, 0, u32::MAX, b"");
    data.extend_from_slice(&record(1, 0, 64 << 20, b""));
    let mut labels = chunk_payload("x", &[], 0, 0, b"");
    labels.truncate(5 + 4);
    labels[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
    data.extend_from_slice(&record(1, 0, labels.len() as u32, &labels));
    let mut samples = chunk_payload("y", &[], u32::MAX, u64::MAX, b"");
    samples.extend_from_slice(&[0xFF; 64]);
    data.extend_from_slice(&record(1, 0, samples.len() as u32, &samples));
    fs::write(dir.path().join("00000001.chunks"), &data).unwrap();

    let options = PersistOptions::builder(dir.path()).build().unwrap();
    let (largest, opened) = largest_allocation_during(|| ChunkLog::open(options));
    let (_log, recovered) = opened.unwrap();
    assert!(recovered.chunks.is_empty());
    let kinds: Vec<_> = recovered.problems.iter().map(|p| p.kind).collect();
    assert!(
        matches!(
            kinds[..],
            [
                CorruptionKind::BadHeader { .. },
                CorruptionKind::UndecodableChunk { .. },
                CorruptionKind::UndecodableChunk { .. },
            ]
        ),
        "{kinds:?}"
    );
    assert!(
        largest <= data.len().max(4096),
        "an allocation of {largest} bytes reading a {}-byte file",
        data.len()
    );
}

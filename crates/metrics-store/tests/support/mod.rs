//! What the persistence tests share: scratch directories, chunks with awkward values, and an
//! independent writer of the documented record layout, so the tests check the format as the
//! module docs draw it rather than as the crate happens to write it.
#![allow(dead_code, reason = "each test binary uses part of the support module")]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hardening_metrics_store::{Chunk, Sample};

/// A directory under the system's temp dir, unique to the test process and call, removed when
/// dropped.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("hms-persist-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The segment files in `dir`, oldest first.
pub(crate) fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "chunks"))
        .collect();
    files.sort();
    files
}

/// A chunk of `n` samples whose values and timestamps depend on `seed`, with NaN payloads,
/// both zeros, both infinities and out-of-order timestamps mixed in.
pub(crate) fn chunk(seed: u64, n: usize) -> Chunk {
    let special = [
        f64::NAN,
        f64::from_bits(0x7FF8_0000_DEAD_BEEF),
        -0.0,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
    ];
    let mut chunk = Chunk::new();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in 0..n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let timestamp = 1_700_000_000_000 + (i as i64) * 10_000 + (state % 7) as i64 - 3;
        let value = match state % 5 {
            0 => special[(state / 5) as usize % special.len()],
            1 => f64::from_bits(state),
            _ => (i as u64 * 3 + seed) as f64,
        };
        chunk.push(Sample { timestamp, value });
    }
    chunk
}

/// CRC-32C, bit by bit: slow and obvious, unlike the crate's table.
pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A record as the module docs lay it out: marker, version, kind, the declared payload length
/// (which need not be the payload's), payload CRC, header CRC, payload.
pub(crate) fn record(version: u8, kind: u8, declared_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x89, b'H', b'M', b'C', version, kind];
    out.extend_from_slice(&declared_len.to_le_bytes());
    out.extend_from_slice(&crc32c(payload).to_le_bytes());
    let header_crc = crc32c(&out);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload of a kind-0 record, as the module docs lay it out.
pub(crate) fn chunk_payload(
    name: &str,
    labels: &[(&str, &str)],
    samples: u32,
    bits: u64,
    bytes: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let text = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    text(&mut out, name);
    out.extend_from_slice(&(labels.len() as u32).to_le_bytes());
    for (k, v) in labels {
        text(&mut out, k);
        text(&mut out, v);
    }
    out.extend_from_slice(&samples.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

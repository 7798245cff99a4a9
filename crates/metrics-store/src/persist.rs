//! Optional persistence: closed chunks appended to checksummed segment files, read back on
//! start, so history survives a restart or a crash.
//!
//! A [`ChunkLog`] owns one directory. [`ChunkLog::open`] reads every segment in it back into
//! [`Recovered`] chunks, reporting each stretch it could not read as a [`Corruption`] and
//! keeping everything else; [`ChunkLog::append`] then writes each closed chunk as one record.
//! This module is private: these docs are for readers of the source; users read
//! [`ChunkLog`]'s docs and the "Persistence" section of `docs/metrics-store.md`.
//!
//! # Files
//!
//! Segments are named by a sequence number, `00000001.chunks`, `00000002.chunks`, …, so their
//! order is their age (the reader sorts by the number, so the ninth digit changes nothing).
//! Other files in the directory are left alone. A segment is closed once the next record would
//! take it past `segment_bytes`; before a record is written, the oldest segments are deleted
//! until it fits in `max_disk_bytes`, so the directory never holds more.
//!
//! Appends always go to a fresh segment, never after bytes written by an earlier run: whatever
//! a crash left at the end of an old segment stays behind the segment's last good record and
//! cannot be mistaken for the start of a new one. A torn tail (a record cut short, or a zero
//! fill left by a crash) is also cut off its segment when the log is opened, so it is reported
//! once, not on every start; every other damaged stretch is left on disk as found, for a
//! person to look at. A segment is created on the first append, so a run that writes nothing
//! leaves no empty file.
//!
//! One directory belongs to one [`ChunkLog`] at a time: two logs in one directory would delete
//! each other's segments.
//!
//! # Record layout
//!
//! All integers are little-endian.
//!
//! ```text
//! offset  size  field
//!      0     4  marker          89 48 4D 43 ("\x89HMC")
//!      4     1  version         1
//!      5     1  kind            0 = a closed chunk of raw samples (later kinds: tiers)
//!      6     4  payload length  u32, at most 64 MiB
//!     10     4  payload CRC-32C
//!     14     4  header CRC-32C  of bytes 0..14
//!     18     …  payload
//!
//! payload of kind 0
//!   u32 name length,  the name (UTF-8)
//!   u32 label count,  then per label: u32 length, its name; u32 length, its value
//!   u32 samples
//!   u64 bits
//!   bits.div_ceil(8) bytes: the chunk's Gorilla bit stream, first bit in the most
//!                           significant bit of the first byte, zero padding
//! ```
//!
//! The header keeps this shape in every version (a version changes the payload only), so a
//! reader can skip records of a version it does not know. The header has its own checksum so
//! a length is trusted before the payload is touched: a damaged length is told from a record
//! cut short, and a stray marker inside a payload costs a 14-byte checksum, not one over
//! megabytes. CRC-32C (Castagnoli) is the checksum of iSCSI, ext4 and LevelDB: like every
//! 32-bit CRC it catches any burst of up to 32 bits, and over record-sized lengths it keeps a
//! higher Hamming distance than the IEEE CRC-32 (the one `crc32fast` computes). It is computed
//! here, slicing by 8 with tables built at compile time, in forty lines: for a record of a few
//! hundred bytes it is a small share of an append, which is mostly the `write` system call
//! (see the `persist_append` bench). Hardware CRC-32C needs `unsafe` intrinsics or a crate
//! that wraps them, for a saving an append would hardly show.
//!
//! # Reading
//!
//! A segment is read whole (it was at most `segment_bytes` when written, and no file over
//! 1 GiB is read: it is reported instead). At each position the reader frames a record: marker, header
//! checksum, a length within bounds and within the file, payload checksum. A record that fails
//! is skipped up to the next position where a whole record verifies, so one bad record never
//! costs the ones after it, and the skipped stretch is reported with its offset and size. A
//! record that verifies is decoded and the chunk is rebuilt by decoding its samples and
//! encoding them again: the encoder is deterministic, so the rebuilt bits must be the stored
//! bits, and a record that verifies but does not rebuild exactly is reported, not loaded.
//! Every length is checked against the bytes at hand before it is used, and nothing is
//! allocated from a length that has not been, so no input panics the reader or makes it
//! allocate more than the file's size.

mod record;

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::chunk::Chunk;
use crate::store::SeriesKey;
use record::{Scan, Skip};

/// The smallest `segment_bytes`: 1 KiB.
pub const MIN_SEGMENT_BYTES: u64 = 1 << 10;
/// The largest `segment_bytes`: 1 GiB. Segments are read whole on start, so they stay small
/// enough to read.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

const SEGMENT_SUFFIX: &str = ".chunks";

/// When appended records are forced to the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Each record reaches the operating system with one `write` as it is appended, so a crash
    /// of the process loses nothing; the disk gets it when the system writes it back, or at
    /// [`ChunkLog::flush`]. A power cut can lose the last few seconds. The default: a chunk's
    /// samples are history, not transactions.
    #[default]
    Never,
    /// `fdatasync` after every record (and the directory synced when a segment is created), so
    /// an appended record survives a power cut. Costs a disk flush per closed chunk.
    EveryAppend,
}

/// Where and how a [`ChunkLog`] keeps its files; made by [`PersistOptions::builder`], which
/// checks every setting.
///
/// ```
/// use hardening_metrics_store::{PersistOptions, SyncPolicy};
///
/// let options = PersistOptions::builder("/var/lib/myservice/metrics")
///     .segment_bytes(4 << 20)
///     .max_disk_bytes(256 << 20)
///     .sync(SyncPolicy::EveryAppend)
///     .build()?;
/// assert_eq!(options.segment_bytes(), 4 << 20);
///
/// let err = PersistOptions::builder("/tmp/m").segment_bytes(0).build().unwrap_err();
/// assert_eq!(err.field(), Some("segment_bytes"));
/// # Ok::<(), hardening_metrics_store::PersistError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistOptions {
    dir: PathBuf,
    segment_bytes: u64,
    max_disk_bytes: u64,
    sync: SyncPolicy,
}

impl PersistOptions {
    /// Options for the directory `dir` (created on open if missing), with 8 MiB segments, a
    /// 64 MiB disk budget (the store's default memory budget) and [`SyncPolicy::Never`].
    pub fn builder(dir: impl Into<PathBuf>) -> PersistOptionsBuilder {
        PersistOptionsBuilder {
            options: PersistOptions {
                dir: dir.into(),
                segment_bytes: 8 << 20,
                max_disk_bytes: 64 << 20,
                sync: SyncPolicy::Never,
            },
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size at which a segment is closed and the next one started.
    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// The most the segments may take together; the oldest are deleted to stay within it.
    pub fn max_disk_bytes(&self) -> u64 {
        self.max_disk_bytes
    }

    /// When records are forced to the disk.
    pub fn sync(&self) -> SyncPolicy {
        self.sync
    }
}

/// Builds [`PersistOptions`]; see there.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PersistOptionsBuilder {
    options: PersistOptions,
}

impl PersistOptionsBuilder {
    /// The size at which a segment is closed, from [`MIN_SEGMENT_BYTES`] to
    /// [`MAX_SEGMENT_BYTES`]. A record larger than a segment is refused. Default 8 MiB.
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.options.segment_bytes = bytes;
        self
    }

    /// The most all segments may take, at least `segment_bytes`. Default 64 MiB.
    pub fn max_disk_bytes(mut self, bytes: u64) -> Self {
        self.options.max_disk_bytes = bytes;
        self
    }

    /// When records are forced to the disk. Default [`SyncPolicy::Never`].
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.options.sync = policy;
        self
    }

    /// Checks every setting and returns the options, or a [`PersistError::Config`] naming
    /// the first one that is wrong.
    pub fn build(self) -> Result<PersistOptions, PersistError> {
        let o = &self.options;
        if o.dir.as_os_str().is_empty() {
            return Err(PersistError::config("dir", "\"\"", "a directory path"));
        }
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&o.segment_bytes) {
            return Err(PersistError::config(
                "segment_bytes",
                o.segment_bytes,
                format!(
                    "a size in bytes from {MIN_SEGMENT_BYTES} (1 KiB) to {MAX_SEGMENT_BYTES} \
                     (1 GiB), e.g. 8388608 (8 MiB)"
                ),
            ));
        }
        if o.max_disk_bytes < o.segment_bytes {
            return Err(PersistError::config(
                "max_disk_bytes",
                o.max_disk_bytes,
                format!(
                    "a size in bytes of at least segment_bytes ({}), so a full segment fits",
                    o.segment_bytes
                ),
            ));
        }
        Ok(self.options)
    }
}

/// What [`ChunkLog::open`] read back.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Every chunk read, oldest segment first and in the order appended within a segment, with
    /// its series.
    pub chunks: Vec<(SeriesKey, Chunk)>,
    /// Every stretch that could not be read, in the same order. The chunks around each are
    /// kept.
    pub problems: Vec<Corruption>,
}

/// A stretch of a segment that was skipped on reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The segment file.
    pub file: PathBuf,
    /// Where the stretch starts, in bytes from the start of the file.
    pub offset: u64,
    /// How long the stretch is.
    pub skipped_bytes: u64,
    /// What was wrong with it.
    pub kind: CorruptionKind,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} bytes skipped at offset {}: {}",
            self.file.display(),
            self.skipped_bytes,
            self.offset,
            self.kind
        )
    }
}

/// Why a stretch of a segment was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// The segment ends inside a record, or in a run of zeros: a crash mid-write. The segment
    /// has been cut back to its last good record.
    TornTail,
    /// No trustworthy record header where one should start: garbage, a header whose checksum
    /// fails, an absurd length, or a length that runs past records that verify after it.
    BadHeader {
        /// Which of those.
        reason: &'static str,
    },
    /// A record whose header verifies but whose payload checksum does not.
    BadChecksum,
    /// A record that verifies but does not hold a chunk that rebuilds exactly.
    UndecodableChunk {
        /// What did not hold.
        reason: &'static str,
    },
    /// A record that verifies, of a format version or record kind this build does not read
    /// (a newer build wrote it).
    UnknownRecord {
        /// The record's format version.
        version: u8,
        /// The record's kind.
        kind: u8,
    },
    /// A segment file larger than [`MAX_SEGMENT_BYTES`], which no log writes; it was not read.
    OversizedSegment,
}

impl fmt::Display for CorruptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptionKind::TornTail => f.write_str("torn tail (a crash mid-write), cut off"),
            CorruptionKind::BadHeader { reason } => write!(f, "bad record header: {reason}"),
            CorruptionKind::BadChecksum => f.write_str("record payload checksum mismatch"),
            CorruptionKind::UndecodableChunk { reason } => {
                write!(f, "undecodable chunk: {reason}")
            }
            CorruptionKind::UnknownRecord { version, kind } => {
                write!(f, "unknown record (version {version}, kind {kind})")
            }
            CorruptionKind::OversizedSegment => {
                write!(f, "segment larger than {MAX_SEGMENT_BYTES} bytes, not read")
            }
        }
    }
}

impl CorruptionKind {
    fn of(skip: Skip) -> Self {
        match skip {
            Skip::TornTail => CorruptionKind::TornTail,
            Skip::BadHeader(reason) => CorruptionKind::BadHeader { reason },
            Skip::BadChecksum => CorruptionKind::BadChecksum,
            Skip::UnknownRecord { version, kind } => {
                CorruptionKind::UnknownRecord { version, kind }
            }
            Skip::UndecodableChunk(reason) => CorruptionKind::UndecodableChunk { reason },
        }
    }
}

/// Why persistence failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PersistError {
    /// A setting is out of range.
    Config {
        /// The setting, as named by its builder method.
        field: &'static str,
        /// The value given, as text.
        value: String,
        /// What the setting accepts.
        expected: String,
    },
    /// A file operation failed.
    Io {
        /// What was being done (`"creating the directory"`, `"appending to"`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error from the operating system.
        source: io::Error,
    },
    /// A record would not fit in one segment (or passes the format's 64 MiB bound); nothing
    /// was written.
    RecordTooLarge {
        /// The record's size.
        bytes: u64,
        /// The most a record may take.
        limit: u64,
    },
}

impl PersistError {
    fn config(field: &'static str, value: impl fmt::Display, expected: impl Into<String>) -> Self {
        PersistError::Config {
            field,
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| PersistError::Io {
            action,
            path,
            source,
        }
    }

    /// The setting at fault, for a [`PersistError::Config`].
    pub fn field(&self) -> Option<&'static str> {
        match self {
            PersistError::Config { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistError::Config {
                field,
                value,
                expected,
            } => write!(f, "{field}: {value} is not accepted; expected {expected}"),
            PersistError::Io {
                action,
                path,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            PersistError::RecordTooLarge { bytes, limit } => write!(
                f,
                "a record of {bytes} bytes does not fit: records may take at most {limit} bytes \
                 (segment_bytes, and 64 MiB of payload)"
            ),
        }
    }
}

impl std::error::Error for PersistError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PersistError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A segment file and what it holds on disk.
#[derive(Debug)]
struct Segment {
    number: u64,
    path: PathBuf,
    bytes: u64,
    /// Whether everything appended to it in this run has been synced (segments of earlier
    /// runs count as synced: nothing of this run is in them).
    synced: bool,
}

/// The segment being appended to.
#[derive(Debug)]
struct Active {
    segment: Segment,
    file: File,
}

/// An append-only log of closed chunks in checksummed segment files, read back on start so
/// history survives a restart or a crash.
///
/// Each closed chunk is one record: a marker, a format version, a record kind, the payload's
/// length, a CRC-32C of the payload and one of the header, then the series and the chunk's
/// Gorilla bits. Records go to segment files (`00000001.chunks`, …) that rotate at
/// [`PersistOptions::segment_bytes`]; the oldest are deleted to stay within
/// [`PersistOptions::max_disk_bytes`]. Appends always go to a new segment, never after what an
/// earlier run left. One directory belongs to one log at a time.
///
/// On [`open`](ChunkLog::open), a record that fails its checks is skipped up to the next one
/// that passes and reported as a [`Corruption`]; the chunks around it are kept. A torn tail (a
/// crash mid-write) is reported once and cut off its segment. A chunk is loaded only if
/// decoding and re-encoding its samples gives back its stored bits exactly. No input panics
/// the reader, and no length read from a file is trusted for an allocation before it is
/// checked against the file.
///
/// ```
/// use hardening_metrics_store::{Chunk, ChunkLog, PersistOptions, Sample, SeriesKey};
///
/// let dir = std::env::temp_dir().join(format!("hms-persist-doc-{}", std::process::id()));
/// let key = SeriesKey::new("http_requests_total", [("route", "/")]);
/// let mut chunk = Chunk::new();
/// for i in 0..120 {
///     chunk.push(Sample { timestamp: i * 10_000, value: i as f64 });
/// }
///
/// let (mut log, recovered) = ChunkLog::open(PersistOptions::builder(&dir).build()?)?;
/// assert!(recovered.chunks.is_empty() && recovered.problems.is_empty());
/// log.append(&key, &chunk)?;
/// drop(log);
///
/// // The next start.
/// let (_log, recovered) = ChunkLog::open(PersistOptions::builder(&dir).build()?)?;
/// assert_eq!(recovered.chunks, vec![(key, chunk)]);
/// for problem in &recovered.problems {
///     eprintln!("metrics history: {problem}");
/// }
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), hardening_metrics_store::PersistError>(())
/// ```
#[derive(Debug)]
pub struct ChunkLog {
    options: PersistOptions,
    /// Closed segments, oldest first.
    closed: VecDeque<Segment>,
    active: Option<Active>,
    next_number: u64,
    disk_bytes: u64,
    /// The record being written, kept to reuse its allocation.
    buffer: Vec<u8>,
}

impl ChunkLog {
    /// Opens the directory (creating it), deletes the oldest segments past the disk budget,
    /// reads every other segment back and cuts any torn tail off it. Appends will go to a new
    /// segment, created on the first one.
    ///
    /// Damage is not an error: it is reported in [`Recovered::problems`] and reading goes on.
    /// An error is a file operation that failed (the directory cannot be created or listed, a
    /// segment cannot be read or cut).
    pub fn open(options: PersistOptions) -> Result<(ChunkLog, Recovered), PersistError> {
        let dir = options.dir.clone();
        fs::create_dir_all(&dir).map_err(PersistError::io("creating the directory", &dir))?;
        let mut segments = list_segments(&dir)?;
        let next_number = match segments.back() {
            None => 1,
            Some(last) => last.number.checked_add(1).ok_or_else(|| PersistError::Io {
                action: "numbering a new segment after",
                path: last.path.clone(),
                source: io::Error::other("segment numbers are exhausted"),
            })?,
        };
        let mut disk_bytes: u64 = segments.iter().map(|s| s.bytes).sum();
        while disk_bytes > options.max_disk_bytes {
            let Some(oldest) = segments.pop_front() else {
                break;
            };
            delete(&oldest)?;
            disk_bytes -= oldest.bytes;
        }
        let mut recovered = Recovered::default();
        for segment in &mut segments {
            let before = segment.bytes;
            read_segment(segment, &mut recovered)?;
            disk_bytes = disk_bytes - before + segment.bytes;
        }
        let log = ChunkLog {
            options,
            closed: segments,
            active: None,
            next_number,
            disk_bytes,
            buffer: Vec::new(),
        };
        Ok((log, recovered))
    }

    /// Appends `chunk` of series `key` as one record: closes the current segment if the record
    /// would take it past `segment_bytes`, deletes the oldest segments until the record fits
    /// in `max_disk_bytes`, and writes the record with one `write` (then syncs it, with
    /// [`SyncPolicy::EveryAppend`]).
    ///
    /// A record larger than `segment_bytes` is refused with [`PersistError::RecordTooLarge`].
    /// After a failed write, whatever part of the record reached the file is cut off if
    /// possible, and the next append starts a new segment either way. An error from the sync
    /// after a write means the record is in the file but perhaps not yet on the disk.
    pub fn append(&mut self, key: &SeriesKey, chunk: &Chunk) -> Result<(), PersistError> {
        let limit = self.options.segment_bytes;
        self.buffer.clear();
        if let Err(record::PayloadTooLarge(payload)) = record::encode(key, chunk, &mut self.buffer)
        {
            return Err(PersistError::RecordTooLarge {
                bytes: payload + record::HEADER_BYTES as u64,
                limit: limit.min(u64::from(record::MAX_PAYLOAD_BYTES)),
            });
        }
        let len = self.buffer.len() as u64;
        if len > limit {
            return Err(PersistError::RecordTooLarge { bytes: len, limit });
        }
        if self
            .active
            .as_ref()
            .is_some_and(|a| a.segment.bytes + len > limit)
        {
            self.close_active();
        }
        // The active segment plus this record fit in a segment, which fits in the budget, so
        // deleting closed segments always makes room.
        while self.disk_bytes + len > self.options.max_disk_bytes {
            let Some(oldest) = self.closed.front() else {
                break;
            };
            delete(oldest)?;
            self.disk_bytes -= oldest.bytes;
            self.closed.pop_front();
        }
        let mut active = match self.active.take() {
            Some(active) => active,
            None => self.start_segment()?,
        };
        if let Err(source) = active.file.write_all(&self.buffer) {
            let path = active.segment.path.clone();
            self.abandon(active, len);
            return Err(PersistError::Io {
                action: "appending to",
                path,
                source,
            });
        }
        active.segment.bytes += len;
        self.disk_bytes += len;
        active.segment.synced = false;
        let synced = match self.options.sync {
            SyncPolicy::EveryAppend => active
                .file
                .sync_data()
                .map(|()| active.segment.synced = true)
                .map_err(PersistError::io("syncing", &active.segment.path)),
            SyncPolicy::Never => Ok(()),
        };
        self.active = Some(active);
        synced
    }

    /// Forces every record appended so far to the disk: `fdatasync` of the current segment and
    /// of each segment closed since the last sync.
    pub fn flush(&mut self) -> Result<(), PersistError> {
        for segment in self.closed.iter_mut().filter(|s| !s.synced) {
            // Syncing a file through a new handle syncs the file, not the handle.
            match File::open(&segment.path).and_then(|f| f.sync_data()) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(PersistError::Io {
                        action: "syncing",
                        path: segment.path.clone(),
                        source: e,
                    });
                }
                _ => segment.synced = true,
            }
        }
        if let Some(active) = &mut self.active {
            active
                .file
                .sync_data()
                .map_err(PersistError::io("syncing", &active.segment.path))?;
            active.segment.synced = true;
        }
        Ok(())
    }

    /// What the log's segments take on disk, in bytes.
    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &PersistOptions {
        &self.options
    }

    fn close_active(&mut self) {
        if let Some(active) = self.active.take() {
            self.closed.push_back(active.segment);
        }
    }

    /// Creates the next segment. A number already taken (a file made since the directory was
    /// listed) is passed over rather than written into.
    fn start_segment(&mut self) -> Result<Active, PersistError> {
        let dir = &self.options.dir;
        loop {
            let number = self.next_number;
            let path = dir.join(segment_name(number));
            self.next_number = number.checked_add(1).ok_or_else(|| PersistError::Io {
                action: "numbering a new segment after",
                path: path.clone(),
                source: io::Error::other("segment numbers are exhausted"),
            })?;
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(file) => {
                    if self.options.sync == SyncPolicy::EveryAppend {
                        sync_dir(dir)?;
                    }
                    let segment = Segment {
                        number,
                        path,
                        bytes: 0,
                        synced: true,
                    };
                    return Ok(Active { segment, file });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => {
                    return Err(PersistError::Io {
                        action: "creating the segment",
                        path,
                        source,
                    });
                }
            }
        }
    }

    /// After a failed write of `len` bytes: cuts off what part of the record reached the file,
    /// if the file lets us, and closes the segment so the next append starts a new one.
    fn abandon(&mut self, mut active: Active, len: u64) {
        let good = active.segment.bytes;
        // If cutting fails too, the reader will find the partial record and skip it.
        let on_disk = match active.file.set_len(good) {
            Ok(()) => good,
            Err(_) => active.file.metadata().map_or(good + len, |m| m.len()),
        };
        self.disk_bytes = self.disk_bytes - good + on_disk;
        active.segment.bytes = on_disk;
        self.closed.push_back(active.segment);
    }
}

fn segment_name(number: u64) -> String {
    format!("{number:08}{SEGMENT_SUFFIX}")
}

/// The number of a segment file named like `00000042.chunks`.
fn segment_number(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, oldest first.
fn list_segments(dir: &Path) -> Result<VecDeque<Segment>, PersistError> {
    let listing = PersistError::io("listing", dir);
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(listing)? {
        let entry = entry.map_err(PersistError::io("listing", dir))?;
        let Some(number) = entry.file_name().to_str().and_then(segment_number) else {
            continue;
        };
        let path = entry.path();
        let metadata = entry
            .metadata()
            .map_err(PersistError::io("reading the size of", &path))?;
        if metadata.is_file() {
            segments.push(Segment {
                number,
                path,
                bytes: metadata.len(),
                synced: true,
            });
        }
    }
    segments.sort_by_key(|s| s.number);
    Ok(segments.into())
}

fn delete(segment: &Segment) -> Result<(), PersistError> {
    match fs::remove_file(&segment.path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(PersistError::Io {
            action: "deleting the old segment",
            path: segment.path.clone(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Reads one segment into `recovered` and cuts a torn tail off it, updating its size.
fn read_segment(segment: &mut Segment, recovered: &mut Recovered) -> Result<(), PersistError> {
    let path = &segment.path;
    let file = File::open(path).map_err(PersistError::io("opening", path))?;
    let size = file
        .metadata()
        .map_err(PersistError::io("reading the size of", path))?
        .len();
    if size > MAX_SEGMENT_BYTES {
        recovered.problems.push(Corruption {
            file: path.clone(),
            offset: 0,
            skipped_bytes: size,
            kind: CorruptionKind::OversizedSegment,
        });
        return Ok(());
    }
    // The size was checked just above; the file may still grow meanwhile, hence `take`.
    let mut data = Vec::with_capacity(size as usize);
    file.take(MAX_SEGMENT_BYTES)
        .read_to_end(&mut data)
        .map_err(PersistError::io("reading", path))?;
    let scan: Scan = record::scan(&data);
    let torn_at = scan.torn_at();
    recovered.chunks.extend(scan.chunks);
    recovered
        .problems
        .extend(scan.skipped.iter().map(|s| Corruption {
            file: path.clone(),
            offset: s.offset as u64,
            skipped_bytes: s.len as u64,
            kind: CorruptionKind::of(s.why),
        }));
    segment.bytes = data.len() as u64;
    if let Some(good) = torn_at {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(PersistError::io("opening to cut its torn tail", path))?;
        file.set_len(good as u64)
            .and_then(|()| file.sync_all())
            .map_err(PersistError::io("cutting the torn tail of", path))?;
        segment.bytes = good as u64;
    }
    Ok(())
}

/// Makes a new file's directory entry durable (on Unix; elsewhere the file system does it, or
/// a directory cannot be opened to sync).
fn sync_dir(dir: &Path) -> Result<(), PersistError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(PersistError::io("syncing the directory", dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_by_age_and_other_files_are_not_segments() {
        assert_eq!(segment_name(1), "00000001.chunks");
        assert_eq!(segment_name(123_456_789), "123456789.chunks");
        assert_eq!(segment_number("00000001.chunks"), Some(1));
        assert_eq!(segment_number("123456789.chunks"), Some(123_456_789));
        for other in [
            "chunks",
            ".chunks",
            "1.chunk",
            "x1.chunks",
            "+1.chunks",
            "1.chunks.tmp",
        ] {
            assert_eq!(segment_number(other), None, "{other}");
        }
    }
}

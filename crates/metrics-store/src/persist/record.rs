//! The record format: writing one record, and reading a segment's bytes back into chunks and
//! reports of what could not be read. The layout is drawn in the parent module's docs.

use std::ops::Range;

use crate::chunk::Chunk;
use crate::store::SeriesKey;

/// Starts every record. The first byte has its high bit set (as PNG's signature does) so text
/// and zero fill, the usual garbage, never look like a record.
pub(super) const MAGIC: [u8; 4] = [0x89, b'H', b'M', b'C'];
/// The format version this build writes and reads.
pub(super) const VERSION: u8 = 1;
/// The record kind of a closed chunk of raw samples; other kinds are left for later (tiers).
pub(super) const KIND_CHUNK: u8 = 0;
/// Magic, version, kind, payload length, payload checksum, header checksum.
pub(super) const HEADER_BYTES: usize = 18;
/// The largest payload a record may declare: 64 MiB, a chunk of over three million samples.
/// A larger length is damage, so the reader never trusts one.
pub(super) const MAX_PAYLOAD_BYTES: u32 = 64 << 20;

/// CRC-32C (Castagnoli), reflected, as in iSCSI, ext4 and LevelDB. Slicing by 8: eight
/// 256-entry tables, built at compile time, fold eight bytes per step, about five times the
/// speed of the one-table loop, which made a CRC over a record cost as much as its `write`.
pub(super) fn crc32c(bytes: &[u8]) -> u32 {
    const TABLES: [[u32; 256]; 8] = {
        let mut tables = [[0u32; 256]; 8];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            tables[0][i] = crc;
            i += 1;
        }
        // tables[k][i] is the CRC of byte i followed by k zero bytes.
        let mut k = 1;
        while k < 8 {
            let mut i = 0;
            while i < 256 {
                let prev = tables[k - 1][i];
                tables[k][i] = (prev >> 8) ^ tables[0][(prev & 0xFF) as usize];
                i += 1;
            }
            k += 1;
        }
        tables
    };
    let t = &TABLES;
    let mut crc = !0u32;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let lo = le_u32(word, 0) ^ crc;
        let hi = le_u32(word, 4);
        crc = t[7][(lo & 0xFF) as usize]
            ^ t[6][((lo >> 8) & 0xFF) as usize]
            ^ t[5][((lo >> 16) & 0xFF) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xFF) as usize]
            ^ t[2][((hi >> 8) & 0xFF) as usize]
            ^ t[1][((hi >> 16) & 0xFF) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &byte in words.remainder() {
        crc = t[0][((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Why a record could not be written: its payload passes [`MAX_PAYLOAD_BYTES`] (or a length
/// field's range). Holds the payload's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PayloadTooLarge(pub(super) u64);

/// Appends the record of `chunk` in series `key` to `out`.
pub(super) fn encode(
    key: &SeriesKey,
    chunk: &Chunk,
    out: &mut Vec<u8>,
) -> Result<(), PayloadTooLarge> {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(KIND_CHUNK);
    // Length and checksums are filled in once the payload is written.
    out.extend_from_slice(&[0; HEADER_BYTES - 6]);
    let payload_start = out.len();
    fn text(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    text(out, key.name());
    out.extend_from_slice(&(key.labels().len() as u32).to_le_bytes());
    for (name, value) in key.labels() {
        text(out, name);
        text(out, value);
    }
    out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
    out.extend_from_slice(&chunk.bits().to_le_bytes());
    chunk.write_encoded(out);
    let payload_len = (out.len() - payload_start) as u64;
    // Every count and length above is at most the payload's size, so when the payload is
    // within bounds, none of the `as u32` casts lost a bit.
    if payload_len > u64::from(MAX_PAYLOAD_BYTES) {
        out.truncate(start);
        return Err(PayloadTooLarge(payload_len));
    }
    let payload_crc = crc32c(&out[payload_start..]);
    out[start + 6..start + 10].copy_from_slice(&(payload_len as u32).to_le_bytes());
    out[start + 10..start + 14].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32c(&out[start..start + 14]);
    out[start + 14..start + 18].copy_from_slice(&header_crc.to_le_bytes());
    Ok(())
}

/// What is wrong with the bytes at a position where a record should start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// The data ends inside what begins like a record: a marker (or a prefix of one) with too
    /// few bytes after it, or a verified header whose payload runs past the end.
    CutShort,
    NoMarker,
    HeaderChecksum,
    AbsurdLength,
    PayloadChecksum,
}

/// A record framed and verified at some position: the header's checksum, its length's bounds
/// and the payload's checksum all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Framed {
    version: u8,
    kind: u8,
    payload: Range<usize>,
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// Frames the record starting at `at`, checking everything but the payload's meaning.
fn frame(data: &[u8], at: usize) -> Result<Framed, Flaw> {
    let rest = &data[at..];
    if rest.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(rest) {
            Flaw::CutShort
        } else {
            Flaw::NoMarker
        });
    }
    if rest[..4] != MAGIC {
        return Err(Flaw::NoMarker);
    }
    if rest.len() < HEADER_BYTES {
        return Err(Flaw::CutShort);
    }
    if crc32c(&rest[..14]) != le_u32(rest, 14) {
        return Err(Flaw::HeaderChecksum);
    }
    let len = le_u32(rest, 6);
    if len > MAX_PAYLOAD_BYTES {
        return Err(Flaw::AbsurdLength);
    }
    // Checked against the bytes at hand before anything is sliced or allocated.
    let len = len as usize;
    if rest.len() - HEADER_BYTES < len {
        return Err(Flaw::CutShort);
    }
    let payload = &rest[HEADER_BYTES..HEADER_BYTES + len];
    if crc32c(payload) != le_u32(rest, 10) {
        return Err(Flaw::PayloadChecksum);
    }
    Ok(Framed {
        version: rest[4],
        kind: rest[5],
        payload: at + HEADER_BYTES..at + HEADER_BYTES + len,
    })
}

/// The first position after `after` where a whole record verifies.
fn next_record(data: &[u8], after: usize) -> Option<usize> {
    let mut from = after + 1;
    while from < data.len() {
        let found = from + data[from..].windows(MAGIC.len()).position(|w| w == MAGIC)?;
        if frame(data, found).is_ok() {
            return Some(found);
        }
        from = found + 1;
    }
    None
}

/// Reads the fields of a chunk record's payload; every length is checked against the bytes
/// left before it is used.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if n > self.rest.len() {
            return Err("a field runs past the end of the payload");
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        let bytes = self.bytes(4)?;
        Ok(le_u32(bytes, 0))
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.bytes(8)?);
        Ok(u64::from_le_bytes(word))
    }

    fn text(&mut self) -> Result<&'a str, &'static str> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.bytes(len)?).map_err(|_| "a name or label is not UTF-8")
    }
}

/// Decodes a verified chunk record's payload.
fn decode(payload: &[u8]) -> Result<(SeriesKey, Chunk), &'static str> {
    let mut fields = Fields { rest: payload };
    let name = fields.text()?;
    let label_count = fields.u32()?;
    // Each label takes at least 8 bytes, which bounds the capacity by the payload.
    let mut labels = Vec::with_capacity((label_count as usize).min(payload.len() / 8));
    for _ in 0..label_count {
        labels.push((fields.text()?, fields.text()?));
    }
    let samples = fields.u32()?;
    let bits = fields.u64()?;
    let encoded_len =
        usize::try_from(bits.div_ceil(8)).map_err(|_| "the bit count is out of range")?;
    let encoded = fields.bytes(encoded_len)?;
    if !fields.rest.is_empty() {
        return Err("bytes are left over after the chunk");
    }
    let chunk = Chunk::decode(samples, bits, encoded).map_err(|e| e.reason())?;
    Ok((SeriesKey::new(name, labels), chunk))
}

/// Why a stretch of a segment was skipped. The public report's kind is built from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Skip {
    /// Runs to the end of the data and is either the start of a record cut short or all
    /// zeros (a file extended by a crash before its data reached the disk).
    TornTail,
    /// The header cannot be trusted; the reason says why.
    BadHeader(&'static str),
    /// The header verifies, the payload's checksum fails.
    BadChecksum,
    /// A verified record of a version or kind this build does not read.
    UnknownRecord { version: u8, kind: u8 },
    /// A verified chunk record whose content is not a chunk; the reason says why.
    UndecodableChunk(&'static str),
}

/// A skipped stretch of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Skipped {
    pub(super) offset: usize,
    pub(super) len: usize,
    pub(super) why: Skip,
}

/// What a segment's bytes hold: its chunks in the order they were written, and what was
/// skipped. A torn tail, when there is one, is the last skip.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub(super) chunks: Vec<(SeriesKey, Chunk)>,
    pub(super) skipped: Vec<Skipped>,
}

impl Scan {
    /// Where the segment's good data ends, when it ends in a torn tail.
    pub(super) fn torn_at(&self) -> Option<usize> {
        self.skipped
            .last()
            .filter(|s| s.why == Skip::TornTail)
            .map(|s| s.offset)
    }
}

/// Reads every record in `data`. A bad stretch is skipped up to the next position where a
/// whole record verifies, so one bad record never costs the records after it. Never panics.
pub(super) fn scan(data: &[u8]) -> Scan {
    let mut scan = Scan::default();
    let mut at = 0;
    while at < data.len() {
        match frame(data, at) {
            Ok(Framed {
                version,
                kind,
                payload,
            }) => {
                let end = payload.end;
                let why = if version != VERSION || kind != KIND_CHUNK {
                    Some(Skip::UnknownRecord { version, kind })
                } else {
                    match decode(&data[payload]) {
                        Ok(chunk) => {
                            scan.chunks.push(chunk);
                            None
                        }
                        Err(reason) => Some(Skip::UndecodableChunk(reason)),
                    }
                };
                if let Some(why) = why {
                    scan.skipped.push(Skipped {
                        offset: at,
                        len: end - at,
                        why,
                    });
                }
                at = end;
            }
            Err(flaw) => {
                let next = next_record(data, at);
                let end = next.unwrap_or(data.len());
                let torn = next.is_none()
                    && (flaw == Flaw::CutShort || data[at..].iter().all(|&b| b == 0));
                let why = match flaw {
                    _ if torn => Skip::TornTail,
                    Flaw::CutShort => {
                        Skip::BadHeader("its length runs past a record that verifies")
                    }
                    Flaw::NoMarker => Skip::BadHeader("no record marker"),
                    Flaw::HeaderChecksum => Skip::BadHeader("the header checksum does not match"),
                    Flaw::AbsurdLength => Skip::BadHeader("the payload length is above 64 MiB"),
                    Flaw::PayloadChecksum => Skip::BadChecksum,
                };
                scan.skipped.push(Skipped {
                    offset: at,
                    len: end - at,
                    why,
                });
                at = end;
            }
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Sample;

    fn chunk(n: i64) -> Chunk {
        let mut chunk = Chunk::new();
        for i in 0..n {
            chunk.push(Sample {
                timestamp: i * 10_000,
                value: i as f64,
            });
        }
        chunk
    }

    fn record(name: &str, n: i64) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&SeriesKey::new(name, [("a", "1")]), &chunk(n), &mut out).unwrap();
        out
    }

    /// A record with a hand-made header around `payload`, both checksums right.
    fn framed(version: u8, kind: u8, declared_len: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(version);
        out.push(kind);
        out.extend_from_slice(&declared_len.to_le_bytes());
        out.extend_from_slice(&crc32c(payload).to_le_bytes());
        let header_crc = crc32c(&out);
        out.extend_from_slice(&header_crc.to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn payload_of(record: &[u8]) -> &[u8] {
        &record[HEADER_BYTES..]
    }

    #[test]
    fn crc32c_matches_the_standard_check_value_and_a_bitwise_crc_at_every_length() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        let bitwise = |bytes: &[u8]| {
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
        };
        let data: Vec<u8> = (0u32..300)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..8 {
            for end in start..data.len() {
                assert_eq!(
                    crc32c(&data[start..end]),
                    bitwise(&data[start..end]),
                    "{start}..{end}"
                );
            }
        }
    }

    #[test]
    fn a_record_is_framed_as_documented() {
        let key = SeriesKey::new("up", [("job", "api")]);
        let c = chunk(3);
        let mut out = Vec::new();
        encode(&key, &c, &mut out).unwrap();
        assert_eq!(out[..4], MAGIC);
        assert_eq!((out[4], out[5]), (VERSION, KIND_CHUNK));
        let len = le_u32(&out, 6) as usize;
        assert_eq!(out.len(), HEADER_BYTES + len);
        let mut payload = Vec::new();
        payload.extend_from_slice(&2u32.to_le_bytes());
        payload.extend_from_slice(b"up");
        payload.extend_from_slice(&1u32.to_le_bytes());
        for text in ["job", "api"] {
            payload.extend_from_slice(&(text.len() as u32).to_le_bytes());
            payload.extend_from_slice(text.as_bytes());
        }
        payload.extend_from_slice(&3u32.to_le_bytes());
        payload.extend_from_slice(&c.bits().to_le_bytes());
        c.write_encoded(&mut payload);
        assert_eq!(payload_of(&out), payload.as_slice());
        assert_eq!(out, framed(VERSION, KIND_CHUNK, len as u32, &payload));
        let scan = scan(&out);
        assert_eq!(scan.chunks, vec![(key, c)]);
        assert!(scan.skipped.is_empty());
    }

    #[test]
    fn an_absurd_length_with_a_good_header_checksum_is_a_bad_header_and_nothing_is_allocated() {
        let good = record("after", 4);
        let mut data = framed(VERSION, KIND_CHUNK, u32::MAX, b"");
        let bad_len = data.len();
        data.extend_from_slice(&good);
        let scan = scan(&data);
        assert_eq!(
            scan.skipped,
            vec![Skipped {
                offset: 0,
                len: bad_len,
                why: Skip::BadHeader("the payload length is above 64 MiB")
            }]
        );
        assert_eq!(scan.chunks.len(), 1);
    }

    #[test]
    fn a_length_past_the_end_with_records_after_it_is_a_bad_header_not_a_torn_tail() {
        let good = record("after", 4);
        let mut data = framed(VERSION, KIND_CHUNK, 1 << 20, b"");
        let bad_len = data.len();
        data.extend_from_slice(&good);
        let scan = scan(&data);
        assert_eq!(scan.skipped.len(), 1);
        assert_eq!(scan.skipped[0].len, bad_len);
        assert!(matches!(scan.skipped[0].why, Skip::BadHeader(_)));
        assert_eq!(scan.torn_at(), None);
        assert_eq!(scan.chunks.len(), 1);
    }

    #[test]
    fn records_of_unknown_versions_and_kinds_are_skipped_whole() {
        let good = record("x", 2);
        let payload = payload_of(&good);
        let mut data = framed(2, KIND_CHUNK, payload.len() as u32, payload);
        let first = data.len();
        data.extend_from_slice(&framed(VERSION, 7, 3, b"abc"));
        data.extend_from_slice(&good);
        let scan = scan(&data);
        assert_eq!(
            scan.skipped,
            vec![
                Skipped {
                    offset: 0,
                    len: first,
                    why: Skip::UnknownRecord {
                        version: 2,
                        kind: KIND_CHUNK
                    }
                },
                Skipped {
                    offset: first,
                    len: HEADER_BYTES + 3,
                    why: Skip::UnknownRecord {
                        version: VERSION,
                        kind: 7
                    }
                },
            ]
        );
        assert_eq!(scan.chunks.len(), 1);
    }

    #[test]
    fn verified_records_that_are_not_chunks_are_undecodable() {
        let good = record("name", 5);
        let payload = payload_of(&good).to_vec();
        let reframe = |p: &[u8]| framed(VERSION, KIND_CHUNK, p.len() as u32, p);
        let why = |data: Vec<u8>| {
            let scan = scan(&data);
            assert!(scan.chunks.is_empty());
            assert_eq!(scan.skipped.len(), 1);
            assert_eq!(scan.skipped[0].len, data.len());
            scan.skipped[0].why
        };
        let mut not_utf8 = payload.clone();
        not_utf8[4] = 0xFF;
        assert_eq!(
            why(reframe(&not_utf8)),
            Skip::UndecodableChunk("a name or label is not UTF-8")
        );
        let mut extra = payload.clone();
        extra.push(0);
        assert_eq!(
            why(reframe(&extra)),
            Skip::UndecodableChunk("bytes are left over after the chunk")
        );
        assert_eq!(
            why(reframe(&payload[..payload.len() - 1])),
            Skip::UndecodableChunk("a field runs past the end of the payload")
        );
        // A label count of four billion in a tiny payload: no room is made for them.
        let mut many_labels = payload[..8].to_vec();
        many_labels.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            why(reframe(&many_labels)),
            Skip::UndecodableChunk("a field runs past the end of the payload")
        );
        // One sample more than the bits hold.
        let samples_at = payload.len() - 12 - chunk(5).bits().div_ceil(8) as usize;
        let mut more = payload.clone();
        more[samples_at..samples_at + 4].copy_from_slice(&6u32.to_le_bytes());
        assert_eq!(
            why(reframe(&more)),
            Skip::UndecodableChunk("the bit stream ends before its samples do")
        );
    }

    #[test]
    fn a_zero_filled_tail_is_torn_but_zeros_before_a_record_are_not() {
        let good = record("x", 3);
        let mut data = good.clone();
        data.extend_from_slice(&[0; 100]);
        let tail = scan(&data);
        assert_eq!(tail.torn_at(), Some(good.len()));
        let mut data = vec![0; 100];
        data.extend_from_slice(&good);
        let middle = scan(&data);
        assert_eq!(
            middle.skipped,
            vec![Skipped {
                offset: 0,
                len: 100,
                why: Skip::BadHeader("no record marker")
            }]
        );
        assert_eq!(middle.chunks.len(), 1);
    }
}

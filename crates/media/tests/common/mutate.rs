//! Deterministic mutations of valid media: bit flips, truncation, zeroed ranges, duplicated
//! boxes/chunks, and header fields (durations, sizes, rates, channel counts) set to extremes.
//! A mutant is a pure function of (seed file, mutant index), so any one can be made again.
use std::fmt;

/// splitmix64: small, fast, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// The container family of a seed file, which decides where its structure and header fields are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Mp4,
    WebM,
    Mp3,
    Wav,
    Png,
}

/// What was done to a seed, for the report and to name a regression fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    BitFlips(Vec<usize>),
    Truncate(usize),
    Zero { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
    Field { at: usize, bytes: Vec<u8> },
}

impl fmt::Display for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mutation::BitFlips(bits) => write!(f, "flip bits {bits:?}"),
            Mutation::Truncate(n) => write!(f, "truncate to {n} bytes"),
            Mutation::Zero { at, len } => write!(f, "zero {len} bytes at {at}"),
            Mutation::Duplicate { at, len } => write!(f, "duplicate {len} bytes at {at}"),
            Mutation::Field { at, bytes } => write!(f, "set bytes at {at} to {bytes:02x?}"),
        }
    }
}

impl Mutation {
    pub fn apply(&self, data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        match self {
            Mutation::BitFlips(bits) => {
                for b in bits {
                    out[b / 8] ^= 1 << (b % 8);
                }
            }
            Mutation::Truncate(n) => out.truncate(*n),
            Mutation::Zero { at, len } => out[*at..*at + *len].fill(0),
            Mutation::Duplicate { at, len } => {
                let unit = out[*at..*at + *len].to_vec();
                out.splice(at + len..at + len, unit);
            }
            Mutation::Field { at, bytes } => out[*at..*at + bytes.len()].copy_from_slice(bytes),
        }
        out
    }
}

/// Chooses one mutation of `data` (a `family` file) from `rng`.
pub fn choose(data: &[u8], family: Family, rng: &mut Rng) -> Mutation {
    let n = data.len();
    match rng.below(5) {
        0 => {
            let flips = 1 + rng.below(8);
            Mutation::BitFlips((0..flips).map(|_| rng.below(n * 8)).collect())
        }
        1 => Mutation::Truncate(rng.below(n)),
        2 => {
            let at = rng.below(n);
            let len = (1 + rng.below(256)).min(n - at);
            Mutation::Zero { at, len }
        }
        3 => {
            let units = units(data, family);
            if units.is_empty() || rng.below(4) == 0 {
                let at = rng.below(n);
                let len = (1 + rng.below(512)).min(n - at);
                Mutation::Duplicate { at, len }
            } else {
                let (at, len) = units[rng.below(units.len())];
                Mutation::Duplicate { at, len }
            }
        }
        _ => {
            let fields = fields(data, family);
            if fields.is_empty() {
                let at = rng.below(n.saturating_sub(4).max(1));
                let width = 4.min(n - at);
                return Mutation::Field {
                    at,
                    bytes: extreme(width, rng),
                };
            }
            let (at, width) = fields[rng.below(fields.len())];
            Mutation::Field {
                at,
                bytes: extreme(width, rng),
            }
        }
    }
}

/// A big-endian extreme of `width` bytes: 0, 1, all ones, the sign bit, or max positive.
fn extreme(width: usize, rng: &mut Rng) -> Vec<u8> {
    let mut v = vec![0u8; width];
    match rng.below(5) {
        0 => {}
        1 => v[width - 1] = 1,
        2 => v.fill(0xFF),
        3 => v[0] = 0x80,
        _ => {
            v.fill(0xFF);
            v[0] = 0x7F;
        }
    }
    v
}

/// Structural units that can be duplicated: MP4 boxes, RIFF and PNG chunks, EBML elements.
pub fn units(data: &[u8], family: Family) -> Vec<(usize, usize)> {
    match family {
        Family::Mp4 => mp4_boxes(data, 0, data.len(), 0),
        Family::Wav => riff_chunks(data),
        Family::Png => png_chunks(data),
        Family::WebM => ebml_children(data),
        Family::Mp3 => Vec::new(),
    }
}

const MP4_CONTAINERS: [&[u8; 4]; 10] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta", b"mvex", b"dinf", b"moof",
];

fn mp4_boxes(data: &[u8], start: usize, end: usize, depth: u32) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = start;
    while at + 8 <= end && depth < 8 {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        if size < 8 || at + size > end {
            break;
        }
        out.push((at, size));
        let kind: &[u8] = &data[at + 4..at + 8];
        if MP4_CONTAINERS.iter().any(|c| c.as_slice() == kind) {
            out.extend(mp4_boxes(data, at + 8, at + size, depth + 1));
        }
        at += size;
    }
    out
}

fn riff_chunks(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 12;
    while at + 8 <= data.len() {
        let size = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap()) as usize;
        let len = (8 + size + (size & 1)).min(data.len() - at);
        out.push((at, len));
        at += len;
    }
    out
}

fn png_chunks(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 8;
    while at + 12 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let len = (12 + size).min(data.len() - at);
        out.push((at, len));
        at += len;
    }
    out
}

/// Top-level EBML elements and the children of the Segment (Info, Tracks, Cluster, ...).
fn ebml_children(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut depth_end = data.len();
    while at < depth_end {
        let Some((id, id_len)) = ebml_vint(data, at, false) else {
            break;
        };
        let Some((size, size_len)) = ebml_vint(data, at + id_len, true) else {
            break;
        };
        let header = id_len + size_len;
        // Segment (0x18538067): step inside; its size is often "unknown".
        if id == 0x1853_8067 {
            at += header;
            depth_end = data.len();
            continue;
        }
        let len = (header as u64 + size).min((data.len() - at) as u64) as usize;
        out.push((at, len));
        at += len.max(1);
    }
    out
}

/// An EBML variable-length integer at `at`: (value, length). IDs keep their marker bit.
fn ebml_vint(data: &[u8], at: usize, strip: bool) -> Option<(u64, usize)> {
    let first = *data.get(at)?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 || at + len > data.len() {
        return None;
    }
    let mut v = if strip {
        u64::from(first) & ((1u64 << (8 - len)) - 1)
    } else {
        u64::from(first)
    };
    for b in &data[at + 1..at + len] {
        v = (v << 8) | u64::from(*b);
    }
    Some((v, len))
}

/// Header fields worth pushing to extremes: (offset, width in bytes).
pub fn fields(data: &[u8], family: Family) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let find = |fourcc: &[u8]| -> Vec<usize> {
        data.windows(fourcc.len())
            .enumerate()
            .filter(|(_, w)| *w == fourcc)
            .map(|(i, _)| i)
            .collect()
    };
    let mut push = |at: usize, width: usize| {
        if at + width <= data.len() {
            out.push((at, width));
        }
    };
    match family {
        Family::Mp4 => {
            // Offsets from the box type (4 bytes after the box start).
            for t in find(b"mvhd").into_iter().chain(find(b"mdhd")) {
                push(t + 16, 4); // time scale
                push(t + 20, 4); // duration
            }
            for t in find(b"tkhd") {
                push(t + 24, 4); // duration
                push(t + 80, 4); // width (16.16)
                push(t + 84, 4); // height
            }
            for t in find(b"avc1") {
                push(t + 28, 2); // width
                push(t + 30, 2); // height
            }
            for t in find(b"mp4a") {
                push(t + 20, 2); // channel count
                push(t + 22, 2); // sample size
                push(t + 28, 4); // sample rate (16.16)
            }
            for t in find(b"stsz")
                .into_iter()
                .chain(find(b"stts"))
                .chain(find(b"stco"))
            {
                push(t + 8, 4); // first field after version/flags (sample size / entry count)
                push(t + 12, 4);
            }
            for t in find(b"avcC") {
                push(t + 5, 1); // profile
                push(t + 8, 1); // NAL length size
                push(t + 9, 1); // SPS count
                push(t + 10, 2); // SPS length
            }
        }
        Family::Wav => {
            for t in find(b"fmt ") {
                push(t + 10, 2); // channels
                push(t + 12, 4); // sample rate
                push(t + 16, 4); // byte rate
                push(t + 20, 2); // block align
                push(t + 22, 2); // bits per sample
            }
            for t in find(b"data").into_iter().chain(find(b"RIFF")) {
                push(t + 4, 4); // chunk size (little endian, all-ones is the extreme)
            }
        }
        Family::Png => {
            for t in find(b"IHDR") {
                push(t + 4, 4); // width
                push(t + 8, 4); // height
                push(t + 12, 1); // bit depth
                push(t + 13, 1); // colour type
            }
            for t in find(b"IDAT") {
                push(t - 4, 4); // chunk length
            }
        }
        Family::WebM => {
            // EBML IDs followed by a one-byte size: PixelWidth, PixelHeight, Channels,
            // SamplingFrequency, Duration, TimecodeScale, DefaultDuration.
            for id in [
                &[0xB0u8][..],
                &[0xBA],
                &[0x9F],
                &[0xB5],
                &[0x44, 0x89],
                &[0x2A, 0xD7, 0xB1],
                &[0x23, 0xE3, 0x83],
            ] {
                for t in find(id) {
                    let size_at = t + id.len();
                    if let Some(size) = data.get(size_at) {
                        if (0x81..=0x88).contains(size) {
                            push(size_at + 1, usize::from(size - 0x80));
                        }
                    }
                }
            }
        }
        Family::Mp3 => {
            // Frame headers (sync 0xFFEx): bit rate / sample rate byte and channel mode byte.
            for (i, w) in data.windows(2).enumerate().take(4096) {
                if w[0] == 0xFF && w[1] & 0xE0 == 0xE0 {
                    push(i + 2, 1);
                    push(i + 3, 1);
                }
            }
            for t in find(b"Xing").into_iter().chain(find(b"Info")) {
                push(t + 8, 4); // frame count
                push(t + 12, 4); // byte count
            }
            if data.starts_with(b"ID3") {
                push(6, 4); // tag size
            }
        }
    }
    out
}

//! `PackageIndex`: the size and sha256 of each pool file, learned from the `Packages` indexes
//! that went through the package cache in this run, so a `.deb` is kept only when its bytes
//! are the ones the (signed, by-hash verified) index names.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::sync::Mutex;

/// What an index says of one pool file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PoolEntry {
    pub(super) size: u64,
    pub(super) sha256: [u8; 32],
}

/// Pool files by cache key (`deb.debian.org/debian/pool/main/j/jq/jq_1.6-2.1_amd64.deb`).
#[derive(Debug, Default)]
pub(super) struct PackageIndex {
    entries: Mutex<HashMap<String, PoolEntry>>,
    /// The by-hash names already read, so an index served many times is parsed once.
    read: Mutex<HashSet<String>>,
}

impl PackageIndex {
    /// Whether the index named `hash` still needs reading (and marks it read).
    pub(super) fn first_time(&self, hash: &str) -> bool {
        self.read
            .lock()
            .expect("index set")
            .insert(hash.to_string())
    }

    /// Learns the entries of a `Packages` index (xz, gzip or plain) served under the mirror
    /// root `root` (`deb.debian.org/debian`). Returns how many; 0 for anything unreadable.
    pub(super) fn learn(&self, root: &str, bytes: &[u8]) -> usize {
        let mut parser = StanzaParser::default();
        let read = if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            lzma_rs::xz_decompress(&mut io::BufReader::new(bytes), &mut parser)
                .map_err(|e| io::Error::other(e.to_string()))
        } else if bytes.starts_with(&[0x1f, 0x8b]) {
            io::copy(&mut flate2::read::MultiGzDecoder::new(bytes), &mut parser).map(drop)
        } else if bytes.starts_with(b"Package:") {
            parser.write_all(bytes)
        } else {
            return 0;
        };
        if read.is_err() {
            return 0;
        }
        parser.finish();
        let root = root.trim_end_matches('/');
        let mut entries = self.entries.lock().expect("index map");
        let learned = parser.found.len();
        for (filename, entry) in parser.found {
            entries.insert(
                format!("{root}/{}", filename.trim_start_matches('/')),
                entry,
            );
        }
        learned
    }

    /// The entry for a pool file's cache key.
    pub(super) fn get(&self, key: &str) -> Option<PoolEntry> {
        self.entries.lock().expect("index map").get(key).copied()
    }
}

/// Reads `Filename`, `Size` and `SHA256` of each stanza from a decompressed stream.
#[derive(Default)]
struct StanzaParser {
    line: Vec<u8>,
    filename: Option<String>,
    size: Option<u64>,
    sha256: Option<[u8; 32]>,
    found: Vec<(String, PoolEntry)>,
}

/// Longer lines are no field this parser reads (descriptions can be long; they are skipped).
const MAX_LINE: usize = 4096;

impl StanzaParser {
    fn field(&mut self) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() || line == b"\r" {
            self.end_stanza();
            return;
        }
        let Ok(line) = std::str::from_utf8(&line) else {
            return;
        };
        if let Some(v) = line.strip_prefix("Filename:") {
            self.filename = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Size:") {
            self.size = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("SHA256:") {
            let mut hash = [0u8; 32];
            self.sha256 = hex::decode_to_slice(v.trim(), &mut hash)
                .ok()
                .map(|()| hash);
        }
    }

    /// Reads a last line without its newline and ends the last stanza.
    fn finish(&mut self) {
        if !self.line.is_empty() {
            self.field();
        }
        self.end_stanza();
    }

    fn end_stanza(&mut self) {
        if let (Some(filename), Some(size), Some(sha256)) =
            (self.filename.take(), self.size.take(), self.sha256.take())
        {
            self.found.push((filename, PoolEntry { size, sha256 }));
        }
        self.filename = None;
        self.size = None;
        self.sha256 = None;
    }
}

impl Write for StanzaParser {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            if self.line.len() + end <= MAX_LINE {
                self.line.extend_from_slice(&rest[..end]);
            } else {
                // A long continuation line: keep a marker that is no field.
                self.line = b" ".to_vec();
            }
            self.field();
            rest = &rest[end + 1..];
        }
        if self.line.len() + rest.len() <= MAX_LINE {
            self.line.extend_from_slice(rest);
        } else {
            self.line = b" ".to_vec();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "Package: jq\nVersion: 1.6-2.1\nFilename: pool/main/j/jq/jq_1.6-2.1_amd64.deb\nSize: 64000\n\
SHA256: 0101010101010101010101010101010101010101010101010101010101010101\nDescription: lightweight JSON processor\n continued\n\n\
Package: nosize\nFilename: pool/main/n/nosize/nosize_1_all.deb\nSHA256: 0202020202020202020202020202020202020202020202020202020202020202\n\n\
Package: last\nFilename: pool/main/l/last/last_1_all.deb\nSize: 3\nSHA256: 0303030303030303030303030303030303030303030303030303030303030303";

    #[test]
    fn plain_gzip_and_xz_indexes_are_read() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(INDEX.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut INDEX.as_bytes(), &mut xz).unwrap();
        for (name, bytes) in [
            ("plain", INDEX.as_bytes().to_vec()),
            ("gzip", gz),
            ("xz", xz),
        ] {
            let index = PackageIndex::default();
            assert_eq!(index.learn("deb.debian.org/debian/", &bytes), 2, "{name}");
            assert_eq!(
                index.get("deb.debian.org/debian/pool/main/j/jq/jq_1.6-2.1_amd64.deb"),
                Some(PoolEntry {
                    size: 64000,
                    sha256: [1; 32]
                })
            );
            assert_eq!(
                index.get("deb.debian.org/debian/pool/main/l/last/last_1_all.deb"),
                Some(PoolEntry {
                    size: 3,
                    sha256: [3; 32]
                })
            );
            assert_eq!(
                index.get("deb.debian.org/debian/pool/main/n/nosize/nosize_1_all.deb"),
                None,
                "a stanza without a size is no entry"
            );
        }
        assert_eq!(
            PackageIndex::default().learn("x", b"\x28\xb5\x2f\xfd zstd"),
            0
        );
        assert_eq!(
            PackageIndex::default().learn("x", &[0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2]),
            0,
            "a broken xz stream"
        );
    }
}

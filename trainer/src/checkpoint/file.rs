//! The checkpoint file: named byte sections in one self-checking file, written atomically.
//!
//! Layout (`checkpoint.tgc`, little-endian):
//!
//! ```text
//! magic  b"TGCKPT\0\x01"                     8 bytes
//! count  u32                                  number of sections
//! count × { name_len u32, name (utf-8), data_len u64, data }
//! sha256 of everything above                  32 bytes
//! ```
//!
//! The file is written through [`export::atomic`] (temporary file, sync, rename), so a crash never
//! leaves a half-written checkpoint behind, and the previous good checkpoint survives any failure
//! before the rename.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"TGCKPT\0\x01";

/// Name of the checkpoint file inside a run directory.
pub const FILE_NAME: &str = "checkpoint.tgc";

/// Errors reading a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read.
    #[error("cannot read checkpoint {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a checkpoint, or is truncated or corrupted.
    #[error("checkpoint {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A section is missing.
    #[error("checkpoint {path} has no section `{name}`")]
    Missing {
        /// The file.
        path: String,
        /// The missing section.
        name: String,
    },
}

/// The named byte sections of a checkpoint.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sections(pub BTreeMap<String, Vec<u8>>);

/// The first `N` bytes of `b` as an array (`take` hands out exactly `N`; shorter reads zero-fill).
fn fixed<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    let n = b.len().min(N);
    a[..n].copy_from_slice(&b[..n]);
    a
}

impl Sections {
    /// Encodes the sections with the trailing checksum.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.0.len() as u32).to_le_bytes());
        for (name, data) in &self.0 {
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
            out.extend_from_slice(data);
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Decodes and verifies a checkpoint's bytes; `path` only names the file in errors.
    pub fn decode(bytes: &[u8], path: &str) -> Result<Self, CheckpointError> {
        let corrupt = |reason: &str| CheckpointError::Corrupt {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        if bytes.len() < MAGIC.len() + 4 + 32 {
            return Err(corrupt("file is too short (truncated?)"));
        }
        if &bytes[..8] != MAGIC {
            return Err(corrupt("not a tinygan checkpoint (bad magic)"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err(corrupt("checksum mismatch (truncated or modified file)"));
        }
        let mut pos: usize = 8;
        let mut take = |n: usize| -> Result<&[u8], CheckpointError> {
            let end = pos.checked_add(n).filter(|&e| e <= body.len());
            let end = end.ok_or_else(|| corrupt("section runs past the end of the file"))?;
            let s = &body[pos..end];
            pos = end;
            Ok(s)
        };
        let count = u32::from_le_bytes(fixed(take(4)?));
        let mut map = BTreeMap::new();
        for _ in 0..count {
            let nl = u32::from_le_bytes(fixed(take(4)?)) as usize;
            let name = std::str::from_utf8(take(nl)?)
                .map_err(|_| corrupt("section name is not UTF-8"))?
                .to_string();
            let dl = u64::from_le_bytes(fixed(take(8)?));
            let dl = usize::try_from(dl).map_err(|_| corrupt("section too large"))?;
            map.insert(name, take(dl)?.to_vec());
        }
        Ok(Sections(map))
    }

    /// Writes the checkpoint atomically (see [`export::atomic`]).
    pub fn write_atomic(&self, path: &Path) -> std::io::Result<()> {
        export::atomic::write_atomic(path, &self.encode())
    }

    /// Reads and verifies a checkpoint file.
    pub fn read(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::decode(&bytes, &path.display().to_string())
    }

    /// A section's bytes, or [`CheckpointError::Missing`].
    pub fn get(&self, name: &str, path: &Path) -> Result<&[u8], CheckpointError> {
        self.0
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| CheckpointError::Missing {
                path: path.display().to_string(),
                name: name.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sections {
        let mut s = Sections::default();
        s.0.insert("a".into(), vec![1, 2, 3]);
        s.0.insert("state.json".into(), b"{}".to_vec());
        s
    }

    #[test]
    fn round_trip() {
        let s = sample();
        assert_eq!(Sections::decode(&s.encode(), "x").unwrap(), s);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(
                Sections::decode(&bytes[..n], "x").is_err(),
                "truncated to {n}"
            );
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(Sections::decode(&b, "x").is_err(), "flip at {i}");
        }
    }

    #[test]
    fn atomic_write_replaces_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FILE_NAME);
        sample().write_atomic(&p).unwrap();
        let mut s2 = sample();
        s2.0.insert("b".into(), vec![9]);
        s2.write_atomic(&p).unwrap();
        assert_eq!(Sections::read(&p).unwrap(), s2);
        assert!(!p.with_extension("tgc.tmp").exists());
    }
}

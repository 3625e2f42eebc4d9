//! Fetching MNIST: the mirrors, the published SHA-256 of each file, and a download that only
//! ever leaves a verified file behind.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{DataError, find_mnist_file};

/// Mirrors tried in order by [`ensure_mnist`]; each is a URL prefix the `.gz` file names append to.
pub const MNIST_MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];
/// The four MNIST files (their `.gz` names) and the SHA-256 of each, as published by the mirrors.
pub const MNIST_FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    (
        "train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
];

/// SHA-256 of a file's bytes, as lowercase hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Checks that the file at `path` has SHA-256 `expected` (hex, either case):
/// [`DataError::Checksum`] if not, [`DataError::Io`] if it cannot be read.
pub fn verify_sha256(path: &Path, expected: &str) -> Result<(), DataError> {
    let actual = sha256_file(path).map_err(|e| DataError::io(path, e))?;
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(DataError::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_ascii_lowercase(),
            actual,
        })
    }
}

/// Makes sure the four MNIST files are in `dir`. If each is present (gzipped or raw, under any
/// name [`find_mnist_file`] accepts), does nothing and touches no network. Otherwise downloads each
/// missing `.gz` file from [`MNIST_MIRRORS`] in order, checks its SHA-256 against [`MNIST_FILES`]
/// and only then renames it into place, so a partial or bad download never stays in `dir`.
///
/// Errors: [`DataError::Download`] when no mirror could be reached (its message says where to put
/// the files by hand), [`DataError::Checksum`] when a mirror served a file with the wrong SHA-256
/// (and no other mirror served a good one), [`DataError::Io`] when `dir` cannot be written.
pub fn ensure_mnist(dir: &Path) -> Result<(), DataError> {
    ensure_mnist_from(dir, &MNIST_MIRRORS)
}

pub(super) fn ensure_mnist_from(dir: &Path, mirrors: &[&str]) -> Result<(), DataError> {
    let missing: Vec<(&str, &str)> = MNIST_FILES
        .iter()
        .copied()
        .filter(|(gz, _)| find_mnist_file(dir, gz.trim_end_matches(".gz")).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .build();
    for (name, sha) in missing {
        let dest = dir.join(name);
        let mut errors = Vec::new();
        let mut checksum_error = None;
        let mut done = false;
        for mirror in mirrors {
            let url = format!("{mirror}{name}");
            eprintln!("downloading {url} -> {}", dest.display());
            match download_verified(&agent, &url, &dest, sha) {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(DownloadError::Checksum(e)) => {
                    errors.push(e.to_string());
                    checksum_error = Some(e);
                }
                Err(DownloadError::Local(e)) => return Err(e),
                // ureq's messages already name the URL.
                Err(DownloadError::Network(e)) => errors.push(e),
            }
        }
        if !done {
            return Err(checksum_error.unwrap_or_else(|| DataError::Download {
                dir: dir.to_path_buf(),
                errors: errors.join("; "),
            }));
        }
    }
    Ok(())
}

enum DownloadError {
    /// Could not fetch from this mirror: try the next one.
    Network(String),
    /// Fetched, but the content's SHA-256 is wrong.
    Checksum(DataError),
    /// Cannot write the destination directory: no use trying another mirror.
    Local(DataError),
}

/// Downloads `url` into a temporary file next to `dest`, hashing as it goes, and renames it to
/// `dest` only if the SHA-256 matches (through [`export::atomic`]: a failed check aborts the
/// write, which removes the temporary file).
fn download_verified(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    expected_sha: &str,
) -> Result<(), DownloadError> {
    let response = agent
        .get(url)
        .call()
        .map_err(|e| DownloadError::Network(e.to_string()))?;
    // Why the write was aborted, when it was not the file system.
    let mut failure = None;
    let written = export::atomic::write_atomic_with(dest, |file| {
        let mut hasher = Sha256::new();
        let mut reader = response.into_reader();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failure = Some(DownloadError::Network(format!("{url}: {e}")));
                    return Err(io::Error::other("download failed"));
                }
            };
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])?;
        }
        let actual = hex::encode(hasher.finalize());
        if !actual.eq_ignore_ascii_case(expected_sha) {
            failure = Some(DownloadError::Checksum(DataError::Checksum {
                path: PathBuf::from(url),
                expected: expected_sha.to_string(),
                actual,
            }));
            return Err(io::Error::other("checksum mismatch"));
        }
        Ok(())
    });
    match (written, failure) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(f)) => Err(f),
        (Err(e), None) => Err(DownloadError::Local(DataError::io(dest, e))),
    }
}

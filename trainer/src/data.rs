//! Datasets: MNIST read from IDX files (gzipped or raw), its download and checksum check, an IDX
//! writer for generated samples, and the `gaussians8` 2-D toy dataset with a mode-coverage metric.
//!
//! Nothing here depends on Burn: images are plain `u8` pixels and points plain `f32`s, so the module
//! compiles and is unit-tested on its own.
//!
//! # Where the MNIST files live
//!
//! [`resolve_data_dir`] picks the directory: the `--data DIR` flag, else the `TINYGAN_DATA`
//! environment variable, else `./data/mnist`. [`ensure_mnist`] downloads the four files there when
//! they are missing (verifying their SHA-256), and [`load_mnist`] reads one split.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Side length of an MNIST image, in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels in one MNIST image (`28 × 28`).
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Magic number of an IDX file of unsigned-byte 3-D data (images): `0x00000803`.
pub const IDX_IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned-byte 1-D data (labels): `0x00000801`.
pub const IDX_LABELS_MAGIC: u32 = 2049;
/// Environment variable naming the MNIST directory when no `--data` flag is given.
pub const DATA_ENV: &str = "TINYGAN_DATA";
/// MNIST directory used when neither `--data` nor `TINYGAN_DATA` is given (relative to the
/// working directory).
pub const DEFAULT_DATA_DIR: &str = "data/mnist";
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

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Everything that can go wrong finding, downloading or reading a dataset. Every message names the
/// file (or directory) concerned and what is wrong with it.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be opened or read (missing, permissions, I/O error).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file starts with the gzip magic bytes but does not decompress (garbled or cut short).
    #[error(
        "{path}: corrupt gzip data ({source}); delete the file and let tinygan download it again"
    )]
    Gzip {
        /// The file concerned.
        path: PathBuf,
        /// The decompressor's error.
        source: io::Error,
    },
    /// The file is shorter than the IDX header it must start with.
    #[error(
        "{path}: only {len} bytes, too short for an IDX header of {needed} bytes (truncated file?)"
    )]
    TruncatedHeader {
        /// The file concerned.
        path: PathBuf,
        /// Bytes in the (decompressed) file.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// The IDX magic number is not the one expected (not an IDX file, or images and labels swapped).
    #[error("{path}: bad IDX magic number {found} (expected {expected}: {what})")]
    BadMagic {
        /// The file concerned.
        path: PathBuf,
        /// Magic number found in the file.
        found: u32,
        /// Magic number expected.
        expected: u32,
        /// What kind of file was expected ("images" or "labels").
        what: &'static str,
    },
    /// An images file whose images are not 28 × 28.
    #[error("{path}: images are {rows}x{cols} pixels, expected 28x28")]
    BadDims {
        /// The file concerned.
        path: PathBuf,
        /// Rows per image in the header.
        rows: u32,
        /// Columns per image in the header.
        cols: u32,
    },
    /// The item count in the header does not match the amount of data that follows it
    /// (a truncated file, a wrong count, or trailing garbage).
    #[error(
        "{path}: header declares {count} items = {expected_bytes} data bytes, but the file holds {actual_bytes} (truncated or corrupt file?)"
    )]
    SizeMismatch {
        /// The file concerned.
        path: PathBuf,
        /// Item count in the header.
        count: u32,
        /// Data bytes the header implies.
        expected_bytes: u64,
        /// Data bytes actually present after the header.
        actual_bytes: u64,
    },
    /// A labels file holding a value that is not a digit 0–9.
    #[error("{path}: label {label} at index {index} is not a digit 0-9")]
    BadLabel {
        /// The file concerned.
        path: PathBuf,
        /// Index of the offending label.
        index: usize,
        /// Its value.
        label: u8,
    },
    /// The images and labels files of one split hold different numbers of items.
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// Images in it.
        n_images: usize,
        /// The labels file.
        labels: PathBuf,
        /// Labels in it.
        n_labels: usize,
    },
    /// A dataset file is missing from the data directory.
    #[error(
        "MNIST file {name} (or {name}.gz) not found in {dir}; run `tinygan` with network access to download it, or put it there (set {DATA_ENV} or pass --data DIR to use another directory)",
        name = name,
        dir = dir.display()
    )]
    Missing {
        /// The data directory searched.
        dir: PathBuf,
        /// The file's base name (without `.gz`).
        name: String,
    },
    /// A download failed on every mirror (typically: no network).
    #[error(
        "could not download MNIST into {dir}: {errors}\n\
         To train offline, put the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, \
         t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (gzipped or not) into {dir}, \
         or point the {DATA_ENV} environment variable or the --data DIR flag at a directory that holds them.",
        dir = dir.display()
    )]
    Download {
        /// The data directory the files were to go into.
        dir: PathBuf,
        /// What went wrong with each mirror.
        errors: String,
    },
    /// A file's SHA-256 is not the published one (a corrupt download or a tampered mirror).
    #[error("checksum mismatch for {path}: expected SHA-256 {expected}, got {actual}")]
    Checksum {
        /// The file (or URL) concerned.
        path: PathBuf,
        /// The published SHA-256 (hex).
        expected: String,
        /// The SHA-256 computed (hex).
        actual: String,
    },
}

impl DataError {
    fn io(path: &Path, source: io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Which MNIST split to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The 60 000 training images (`train-*`).
    Train,
    /// The 10 000 test images (`t10k-*`).
    Test,
}

impl Split {
    /// File-name prefix of this split: `train` or `t10k`.
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// One MNIST split in memory: `len` images of 28 × 28 `u8` pixels (0 = black background,
/// 255 = white ink), row-major, image after image, and their labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    /// `len × 784` pixels.
    pub images: Vec<u8>,
    /// `len` labels, each 0–9.
    pub labels: Vec<u8>,
    /// Number of images.
    pub len: usize,
}

impl Mnist {
    /// Pixels of image `i` (784 bytes). Panics if `i >= self.len`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]
    }

    /// Whether the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the images at `indices` to `out`, scaled from `0..=255` to `[-1, 1]` (the range of a
    /// `tanh` generator): `out` grows by `indices.len() × 784`. Panics on an index out of range.
    pub fn batch_f32(&self, indices: &[usize], out: &mut Vec<f32>) {
        out.reserve(indices.len() * IMAGE_PIXELS);
        for &i in indices {
            out.extend(self.image(i).iter().map(|&p| pixel_to_signed(p)));
        }
    }
}

/// Maps a pixel `0..=255` to `[-1, 1]`.
pub fn pixel_to_signed(p: u8) -> f32 {
    f32::from(p) / 127.5 - 1.0
}

/// Maps a value in `[-1, 1]` to a pixel `0..=255` (clamped; NaN gives 0).
pub fn signed_to_pixel(v: f32) -> u8 {
    ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8
}

/// The MNIST directory to use: `cli` (the `--data DIR` flag) if given, else the `TINYGAN_DATA`
/// environment variable if set and non-empty, else `./data/mnist`.
pub fn resolve_data_dir(cli: Option<&Path>) -> PathBuf {
    resolve_data_dir_from(cli, std::env::var_os(DATA_ENV))
}

fn resolve_data_dir_from(cli: Option<&Path>, env: Option<OsString>) -> PathBuf {
    if let Some(dir) = cli {
        return dir.to_path_buf();
    }
    match env {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_DATA_DIR),
    }
}

/// The names a file with base name `base` (e.g. `train-images-idx3-ubyte`) may have on disk, in
/// order of preference: `base.gz`, `base`, and the `train-images.idx3-ubyte` spelling some
/// redistributions use.
fn candidate_names(base: &str) -> [String; 3] {
    [
        format!("{base}.gz"),
        base.to_string(),
        base.replacen("-idx", ".idx", 1),
    ]
}

/// Finds the file with base name `base` (e.g. `t10k-labels-idx1-ubyte`) in `dir`, gzipped or
/// not. Whether it is compressed is decided by its content when read, not by its name.
pub fn find_mnist_file(dir: &Path, base: &str) -> Option<PathBuf> {
    candidate_names(base)
        .into_iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// Reads a file whole, decompressing it if it starts with the gzip magic bytes `1f 8b`.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::with_capacity(raw.len() * 5);
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|source| DataError::Gzip {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Checks the header of an IDX buffer and returns `(count, data)`.
fn parse_idx<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    what: &'static str,
) -> Result<(u32, &'a [u8]), DataError> {
    let header_len = if magic == IDX_IMAGES_MAGIC { 16 } else { 8 };
    if bytes.len() < 4 {
        return Err(DataError::TruncatedHeader {
            path: path.to_path_buf(),
            len: bytes.len(),
            needed: header_len,
        });
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            what,
        });
    }
    if bytes.len() < header_len {
        return Err(DataError::TruncatedHeader {
            path: path.to_path_buf(),
            len: bytes.len(),
            needed: header_len,
        });
    }
    let count = be_u32(bytes, 4);
    let item_len = if magic == IDX_IMAGES_MAGIC {
        let (rows, cols) = (be_u32(bytes, 8), be_u32(bytes, 12));
        if rows as usize != IMAGE_SIDE || cols as usize != IMAGE_SIDE {
            return Err(DataError::BadDims {
                path: path.to_path_buf(),
                rows,
                cols,
            });
        }
        IMAGE_PIXELS as u64
    } else {
        1
    };
    let data = &bytes[header_len..];
    let expected_bytes = u64::from(count) * item_len;
    if data.len() as u64 != expected_bytes {
        return Err(DataError::SizeMismatch {
            path: path.to_path_buf(),
            count,
            expected_bytes,
            actual_bytes: data.len() as u64,
        });
    }
    Ok((count, data))
}

/// Reads an IDX3 images file (magic 2051, 28 × 28 `u8` images), gzipped or raw. Returns the
/// pixels (`count × 784`) and the image count.
pub fn read_idx_images(path: &Path) -> Result<(Vec<u8>, usize), DataError> {
    let bytes = read_maybe_gz(path)?;
    let (count, data) = parse_idx(path, &bytes, IDX_IMAGES_MAGIC, "images")?;
    Ok((data.to_vec(), count as usize))
}

/// Reads an IDX1 labels file (magic 2049, `u8` labels), gzipped or raw, checking every label is a
/// digit 0–9.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_maybe_gz(path)?;
    let (_, data) = parse_idx(path, &bytes, IDX_LABELS_MAGIC, "labels")?;
    if let Some((index, &label)) = data.iter().enumerate().find(|&(_, &l)| l > 9) {
        return Err(DataError::BadLabel {
            path: path.to_path_buf(),
            index,
            label,
        });
    }
    Ok(data.to_vec())
}

/// Loads one MNIST split from `dir` (see [`find_mnist_file`] for the accepted file names),
/// validating both files and that they hold as many images as labels.
pub fn load_mnist(dir: &Path, split: Split) -> Result<Mnist, DataError> {
    let find = |kind: &str| {
        let base = format!("{}-{kind}", split.prefix());
        find_mnist_file(dir, &base).ok_or_else(|| DataError::Missing {
            dir: dir.to_path_buf(),
            name: base,
        })
    };
    let images_path = find("images-idx3-ubyte")?;
    let labels_path = find("labels-idx1-ubyte")?;
    let (images, n_images) = read_idx_images(&images_path)?;
    let labels = read_idx_labels(&labels_path)?;
    if labels.len() != n_images {
        return Err(DataError::CountMismatch {
            images: images_path,
            n_images,
            labels: labels_path,
            n_labels: labels.len(),
        });
    }
    Ok(Mnist {
        images,
        labels,
        len: n_images,
    })
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary path next to `path` (same directory, so a rename is atomic).
fn temp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Writes `path` atomically: `write` fills a temporary file in the same directory, which is
/// flushed, synced and renamed over `path`. On any error the temporary file is removed and `path`
/// is left untouched, so a reader never sees a half-written file.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_path_for(path);
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn idx_images_bytes(w: &mut dyn Write, images: &[u8], n: usize) -> io::Result<()> {
    w.write_all(&IDX_IMAGES_MAGIC.to_be_bytes())?;
    w.write_all(&(n as u32).to_be_bytes())?;
    w.write_all(&(IMAGE_SIDE as u32).to_be_bytes())?;
    w.write_all(&(IMAGE_SIDE as u32).to_be_bytes())?;
    w.write_all(images)
}

fn idx_labels_bytes(w: &mut dyn Write, labels: &[u8]) -> io::Result<()> {
    w.write_all(&IDX_LABELS_MAGIC.to_be_bytes())?;
    w.write_all(&(labels.len() as u32).to_be_bytes())?;
    w.write_all(labels)
}

/// Writes through a gzip encoder when `path` ends in `.gz`, plainly otherwise.
fn write_maybe_gz(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let gz = path.extension().is_some_and(|e| e == "gz");
    write_atomically(path, |w| {
        if gz {
            let mut enc = GzEncoder::new(w, Compression::default());
            body(&mut enc)?;
            enc.finish()?;
            Ok(())
        } else {
            body(w)
        }
    })
}

/// Writes `n` 28 × 28 `u8` images (`images.len() == n × 784`) as an IDX3 ubyte file (magic 2051),
/// the MNIST format, gzip-compressed when `path` ends in `.gz`. The file is written atomically
/// (temporary file + rename).
pub fn write_idx_images(path: &Path, images: &[u8], n: usize) -> io::Result<()> {
    if images.len() != n * IMAGE_PIXELS || u32::try_from(n).is_err() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "write_idx_images: {} bytes is not {n} images of 28x28",
                images.len()
            ),
        ));
    }
    write_maybe_gz(path, |w| idx_images_bytes(w, images, n))
}

/// Writes labels as an IDX1 ubyte file (magic 2049), gzip-compressed when `path` ends in `.gz`,
/// atomically (temporary file + rename).
pub fn write_idx_labels(path: &Path, labels: &[u8]) -> io::Result<()> {
    if u32::try_from(labels.len()).is_err() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "write_idx_labels: too many labels",
        ));
    }
    write_maybe_gz(path, |w| idx_labels_bytes(w, labels))
}

/// SHA-256 of a file's bytes, as lowercase hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

fn ensure_mnist_from(dir: &Path, mirrors: &[&str]) -> Result<(), DataError> {
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
/// `dest` only if the SHA-256 matches.
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
    let tmp = temp_path_for(dest);
    let result = (|| {
        let mut file =
            File::create(&tmp).map_err(|e| DownloadError::Local(DataError::io(&tmp, e)))?;
        let mut hasher = Sha256::new();
        let mut reader = response.into_reader();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(DownloadError::Network(format!("{url}: {e}"))),
            };
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .map_err(|e| DownloadError::Local(DataError::io(&tmp, e)))?;
        }
        file.sync_all()
            .map_err(|e| DownloadError::Local(DataError::io(&tmp, e)))?;
        let actual = hex(&hasher.finalize());
        if !actual.eq_ignore_ascii_case(expected_sha) {
            return Err(DownloadError::Checksum(DataError::Checksum {
                path: PathBuf::from(url),
                expected: expected_sha.to_string(),
                actual,
            }));
        }
        fs::rename(&tmp, dest).map_err(|e| DownloadError::Local(DataError::io(dest, e)))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

// ---------------------------------------------------------------------------------------------
// gaussians8: the 2-D toy dataset
// ---------------------------------------------------------------------------------------------

/// Radius of the `gaussians8` ring.
pub const GAUSSIANS8_RADIUS: f32 = 2.0;
/// Standard deviation of each `gaussians8` mode (isotropic).
pub const GAUSSIANS8_STD: f32 = 0.02;
/// A generated point counts for mode *k* when it lies within this distance of center *k*
/// (`0.25` = 12.5 σ of the data noise; neighbouring centers are `2·2·sin(22.5°) ≈ 1.53` apart, so
/// no point counts for two modes, and a point half-way between two modes counts for none).
pub const GAUSSIANS8_MODE_RADIUS: f32 = 0.25;

/// The 8 mode centers of `gaussians8`: `2·(cos(k·45°), sin(k·45°))` for `k = 0..8`.
pub fn gaussians8_centers() -> [[f32; 2]; 8] {
    std::array::from_fn(|k| {
        let angle = k as f32 * std::f32::consts::FRAC_PI_4;
        [
            GAUSSIANS8_RADIUS * angle.cos(),
            GAUSSIANS8_RADIUS * angle.sin(),
        ]
    })
}

/// Draws `n` points of the `gaussians8` toy dataset, returned as `n × 2` values `x0, y0, x1, …`.
///
/// This is the standard WGAN-GP toy setup (Gulrajani et al. 2017): a mixture of 8 equally likely
/// isotropic Gaussians, standard deviation [`GAUSSIANS8_STD`] (0.02), centred on a ring of radius
/// [`GAUSSIANS8_RADIUS`] (2) at multiples of 45° (see [`gaussians8_centers`]). Unlike the
/// reference code, the points are not divided by 1.414 afterwards.
pub fn gaussians8_sample(rng: &mut impl Rng, n: usize) -> Vec<f32> {
    let centers = gaussians8_centers();
    let noise = Normal::new(0.0f32, GAUSSIANS8_STD).expect("valid normal distribution");
    let mut out = Vec::with_capacity(n * 2);
    for _ in 0..n {
        let [cx, cy] = centers[rng.random_range(0..8)];
        out.push(cx + noise.sample(rng));
        out.push(cy + noise.sample(rng));
    }
    out
}

/// Mode coverage of a set of generated `gaussians8` points (see [`gaussians8_coverage`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModeCoverage {
    /// Modes holding at least `min_share` of the points.
    pub modes_covered: usize,
    /// Points within [`GAUSSIANS8_MODE_RADIUS`] (or the given radius) of each center.
    pub per_mode: [usize; 8],
    /// Share of all points that lie near some mode ("high-quality" samples), in `[0, 1]`
    /// (0 for no points).
    pub high_quality_share: f32,
    /// Number of points evaluated.
    pub total: usize,
}

/// Mode coverage of generated points (`n × 2`, as from [`gaussians8_sample`]): a point counts for
/// mode *k* if it lies within `max_dist` of center *k*; a mode is covered if it holds at least
/// `min_share` (e.g. `0.02` = 2 %) of all points. Non-finite points count for no mode. A trailing
/// odd value is ignored.
pub fn gaussians8_coverage(points: &[f32], min_share: f32, max_dist: f32) -> ModeCoverage {
    let centers = gaussians8_centers();
    let mut per_mode = [0usize; 8];
    let total = points.len() / 2;
    for p in points.chunks_exact(2) {
        let (x, y) = (p[0], p[1]);
        for (k, [cx, cy]) in centers.iter().enumerate() {
            if ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() < max_dist {
                per_mode[k] += 1;
                break;
            }
        }
    }
    let near: usize = per_mode.iter().sum();
    let modes_covered = if total == 0 {
        0
    } else {
        per_mode
            .iter()
            .filter(|&&c| c as f32 >= min_share * total as f32 && c > 0)
            .count()
    };
    ModeCoverage {
        modes_covered,
        per_mode,
        high_quality_share: if total == 0 {
            0.0
        } else {
            near as f32 / total as f32
        },
        total,
    }
}

/// Modes covered by generated points (`n × 2`) and the points counted for each mode, using
/// [`GAUSSIANS8_MODE_RADIUS`]: see [`gaussians8_coverage`] (which also gives the high-quality
/// share).
pub fn gaussians8_modes_covered(points: &[f32], min_share: f32) -> (usize, [usize; 8]) {
    let c = gaussians8_coverage(points, min_share, GAUSSIANS8_MODE_RADIUS);
    (c.modes_covered, c.per_mode)
}

/// Share of generated points (`n × 2`) within [`GAUSSIANS8_MODE_RADIUS`] of some mode center.
pub fn gaussians8_high_quality_share(points: &[f32]) -> f32 {
    gaussians8_coverage(points, 0.0, GAUSSIANS8_MODE_RADIUS).high_quality_share
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn images_bytes(n_header: u32, rows: u32, cols: u32, n_data: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&IDX_IMAGES_MAGIC.to_be_bytes());
        v.extend_from_slice(&n_header.to_be_bytes());
        v.extend_from_slice(&rows.to_be_bytes());
        v.extend_from_slice(&cols.to_be_bytes());
        v.extend((0..n_data * rows as usize * cols as usize).map(|i| (i % 251) as u8));
        v
    }

    fn labels_bytes(n_header: u32, labels: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&IDX_LABELS_MAGIC.to_be_bytes());
        v.extend_from_slice(&n_header.to_be_bytes());
        v.extend_from_slice(labels);
        v
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    /// Writes a small valid split (`n` images) named `prefix-*`, gzipped or not.
    fn write_split(dir: &Path, prefix: &str, n: usize, gzipped: bool) {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let (img, lab) = (
            images_bytes(n as u32, 28, 28, n),
            labels_bytes(n as u32, &labels),
        );
        if gzipped {
            write(dir, &format!("{prefix}-images-idx3-ubyte.gz"), &gz(&img));
            write(dir, &format!("{prefix}-labels-idx1-ubyte.gz"), &gz(&lab));
        } else {
            write(dir, &format!("{prefix}-images-idx3-ubyte"), &img);
            write(dir, &format!("{prefix}-labels-idx1-ubyte"), &lab);
        }
    }

    #[test]
    fn good_files_parse_gz_and_raw() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), "train", 5, true);
        write_split(dir.path(), "t10k", 3, false);
        let train = load_mnist(dir.path(), Split::Train).unwrap();
        assert_eq!(train.len, 5);
        assert_eq!(train.images.len(), 5 * IMAGE_PIXELS);
        assert_eq!(train.labels, vec![0, 1, 2, 3, 4]);
        assert_eq!(train.image(1)[0], (IMAGE_PIXELS % 251) as u8);
        let test = load_mnist(dir.path(), Split::Test).unwrap();
        assert_eq!(test.len, 3);
        let mut batch = Vec::new();
        test.batch_f32(&[2, 0], &mut batch);
        assert_eq!(batch.len(), 2 * IMAGE_PIXELS);
        assert!(batch.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_eq!(batch[IMAGE_PIXELS], -1.0); // image 0, pixel 0 is 0
    }

    #[test]
    fn compression_is_detected_by_content_not_name() {
        let dir = tempfile::tempdir().unwrap();
        // Raw bytes under a .gz name, gzip under a plain name: both still load.
        write(
            dir.path(),
            "train-images-idx3-ubyte.gz",
            &images_bytes(2, 28, 28, 2),
        );
        write(
            dir.path(),
            "train-labels-idx1-ubyte",
            &gz(&labels_bytes(2, &[7, 9])),
        );
        let m = load_mnist(dir.path(), Split::Train).unwrap();
        assert_eq!((m.len, m.labels.as_slice()), (2, &[7u8, 9][..]));
    }

    #[test]
    fn truncated_images_file_is_size_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = images_bytes(4, 28, 28, 4);
        bytes.truncate(bytes.len() - 100);
        let p = write(dir.path(), "x", &bytes);
        let err = read_idx_images(&p).unwrap_err();
        assert!(
            matches!(err, DataError::SizeMismatch { count: 4, actual_bytes, .. } if actual_bytes == 4 * 784 - 100),
            "{err}"
        );
        assert!(err.to_string().contains(&p.display().to_string()), "{err}");
        // A truncated gzip stream is a gzip error.
        let gzb = gz(&images_bytes(4, 28, 28, 4));
        let p = write(dir.path(), "y.gz", &gzb[..gzb.len() / 2]);
        assert!(matches!(read_idx_images(&p), Err(DataError::Gzip { .. })));
    }

    #[test]
    fn truncated_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "x", &images_bytes(1, 28, 28, 0)[..10]);
        assert!(matches!(
            read_idx_images(&p),
            Err(DataError::TruncatedHeader {
                len: 10,
                needed: 16,
                ..
            })
        ));
        let p = write(dir.path(), "y", &[0, 0]);
        assert!(matches!(
            read_idx_labels(&p),
            Err(DataError::TruncatedHeader { .. })
        ));
        let p = write(dir.path(), "z", &[]);
        assert!(matches!(
            read_idx_images(&p),
            Err(DataError::TruncatedHeader { .. })
        ));
    }

    #[test]
    fn wrong_magic() {
        let dir = tempfile::tempdir().unwrap();
        // A labels file passed as images, and vice versa.
        let lab = write(dir.path(), "lab", &labels_bytes(1, &[3]));
        let err = read_idx_images(&lab).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadMagic {
                    found: 2049,
                    expected: 2051,
                    ..
                }
            ),
            "{err}"
        );
        let img = write(dir.path(), "img", &images_bytes(1, 28, 28, 1));
        assert!(matches!(
            read_idx_labels(&img),
            Err(DataError::BadMagic {
                found: 2051,
                expected: 2049,
                ..
            })
        ));
        let junk = write(dir.path(), "junk", b"<html>not found</html>");
        assert!(matches!(
            read_idx_labels(&junk),
            Err(DataError::BadMagic { .. })
        ));
    }

    #[test]
    fn wrong_count() {
        let dir = tempfile::tempdir().unwrap();
        // Header says 3 images, 4 follow.
        let p = write(dir.path(), "a", &images_bytes(3, 28, 28, 4));
        assert!(matches!(
            read_idx_images(&p),
            Err(DataError::SizeMismatch {
                count: 3,
                expected_bytes: 2352,
                actual_bytes: 3136,
                ..
            })
        ));
        // Header says 5 labels, 2 follow.
        let p = write(dir.path(), "b", &labels_bytes(5, &[1, 2]));
        let err = read_idx_labels(&p).unwrap_err();
        assert!(
            matches!(err, DataError::SizeMismatch { count: 5, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
        // A huge bogus count is an error, not an allocation.
        let p = write(dir.path(), "c", &labels_bytes(u32::MAX, &[1, 2]));
        assert!(matches!(
            read_idx_labels(&p),
            Err(DataError::SizeMismatch { .. })
        ));
    }

    #[test]
    fn wrong_dims() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a", &images_bytes(2, 32, 32, 2));
        let err = read_idx_images(&p).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadDims {
                    rows: 32,
                    cols: 32,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("28x28"));
    }

    #[test]
    fn bad_label_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a", &labels_bytes(3, &[1, 10, 2]));
        assert!(matches!(
            read_idx_labels(&p),
            Err(DataError::BadLabel {
                index: 1,
                label: 10,
                ..
            })
        ));
    }

    #[test]
    fn images_labels_count_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "t10k-images-idx3-ubyte",
            &images_bytes(3, 28, 28, 3),
        );
        write(
            dir.path(),
            "t10k-labels-idx1-ubyte",
            &labels_bytes(2, &[1, 2]),
        );
        let err = load_mnist(dir.path(), Split::Test).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::CountMismatch {
                    n_images: 3,
                    n_labels: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn garbled_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = gz(&labels_bytes(100, &[1; 100]));
        let mid = bytes.len() / 2;
        for b in &mut bytes[12..mid] {
            *b ^= 0x5a;
        }
        let p = write(dir.path(), "train-labels-idx1-ubyte.gz", &bytes);
        let err = read_idx_labels(&p).unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err}");
        // Only the magic bytes.
        let p = write(dir.path(), "b.gz", &GZIP_MAGIC);
        assert!(matches!(read_idx_labels(&p), Err(DataError::Gzip { .. })));
    }

    #[test]
    fn missing_files_say_where() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_mnist(dir.path(), Split::Train).unwrap_err();
        assert!(matches!(err, DataError::Missing { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("train-images-idx3-ubyte"), "{msg}");
        assert!(
            msg.contains("TINYGAN_DATA") && msg.contains("--data"),
            "{msg}"
        );
        let err = read_idx_images(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }));
    }

    #[test]
    fn write_idx_round_trip_gz_and_raw() {
        let dir = tempfile::tempdir().unwrap();
        let imgs: Vec<u8> = (0..3 * IMAGE_PIXELS).map(|i| (i * 7 % 256) as u8).collect();
        for name in ["s-images-idx3-ubyte", "s-images-idx3-ubyte.gz"] {
            let p = dir.path().join(name);
            write_idx_images(&p, &imgs, 3).unwrap();
            assert_eq!(read_idx_images(&p).unwrap(), (imgs.clone(), 3));
        }
        let raw = fs::read(dir.path().join("s-images-idx3-ubyte")).unwrap();
        assert_eq!(raw.len(), 16 + 3 * IMAGE_PIXELS);
        assert_eq!(&raw[..4], &[0, 0, 8, 3]);
        assert!(
            fs::read(dir.path().join("s-images-idx3-ubyte.gz"))
                .unwrap()
                .starts_with(&GZIP_MAGIC)
        );
        let lp = dir.path().join("s-labels-idx1-ubyte");
        write_idx_labels(&lp, &[4, 2]).unwrap();
        assert_eq!(read_idx_labels(&lp).unwrap(), vec![4, 2]);
        // Wrong length is refused, and leaves neither the file nor a temporary behind.
        let bad = dir.path().join("bad");
        let err = write_idx_images(&bad, &imgs[1..], 3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(!bad.exists());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names.iter().all(|n| !n.to_string_lossy().contains(".tmp")),
            "{names:?}"
        );
    }

    #[test]
    fn atomic_write_failure_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "f", b"old");
        let err = write_atomically(&p, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("boom"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn data_dir_resolution() {
        let cli = Path::new("/x/cli");
        assert_eq!(resolve_data_dir_from(Some(cli), Some("/env".into())), cli);
        assert_eq!(
            resolve_data_dir_from(None, Some("/env".into())),
            PathBuf::from("/env")
        );
        assert_eq!(
            resolve_data_dir_from(None, Some("".into())),
            PathBuf::from("data/mnist")
        );
        assert_eq!(
            resolve_data_dir_from(None, None),
            PathBuf::from("data/mnist")
        );
        assert_eq!(resolve_data_dir(Some(cli)), cli);
    }

    #[test]
    fn sha256_verification() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "abc", b"abc");
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file(&p).unwrap(), abc);
        verify_sha256(&p, abc).unwrap();
        verify_sha256(&p, &abc.to_uppercase()).unwrap();
        let err = verify_sha256(&p, MNIST_FILES[0].1).unwrap_err();
        assert!(
            matches!(&err, DataError::Checksum { expected, actual, .. } if expected == MNIST_FILES[0].1 && actual == abc),
            "{err}"
        );
        assert!(err.to_string().contains("checksum mismatch"));
        assert!(matches!(
            verify_sha256(&dir.path().join("none"), abc),
            Err(DataError::Io { .. })
        ));
    }

    #[test]
    fn ensure_mnist_present_touches_no_network() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), "train", 1, true);
        write_split(dir.path(), "t10k", 1, false);
        // An unusable mirror list proves no download is attempted.
        ensure_mnist_from(dir.path(), &[]).unwrap();
    }

    #[test]
    fn ensure_mnist_offline_says_where_to_put_files() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("mnist");
        // Port 9 (discard) on loopback: connection refused at once, like being offline.
        let err = ensure_mnist_from(&data, &["http://127.0.0.1:9/"]).unwrap_err();
        assert!(matches!(err, DataError::Download { .. }), "{err}");
        let msg = err.to_string();
        for needle in [
            data.display().to_string().as_str(),
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "TINYGAN_DATA",
            "--data",
            "127.0.0.1:9",
        ] {
            assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
        }
        // Nothing half-downloaded is left behind.
        assert_eq!(fs::read_dir(&data).unwrap().count(), 0);
    }

    /// Loads the real MNIST files: from `TINYGAN_DATA`, else `shared/mnist` at the workspace's
    /// side (`../../shared/mnist` from the trainer crate).
    #[test]
    fn real_mnist_loads() {
        let dir = std::env::var_os(DATA_ENV)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                // Run-time lookup: a shared build directory may have compiled this elsewhere.
                Path::new(
                    &std::env::var_os("CARGO_MANIFEST_DIR")
                        .expect("cargo sets CARGO_MANIFEST_DIR for tests"),
                )
                .join("../../shared/mnist")
            });
        assert!(
            find_mnist_file(&dir, "train-images-idx3-ubyte").is_some(),
            "real MNIST files not found in {} (set TINYGAN_DATA to a directory holding \
             train-images-idx3-ubyte.gz and the other three files)",
            dir.display()
        );
        ensure_mnist_from(&dir, &[]).expect("all four files present");
        // Their checksums are the published ones when they are the .gz files.
        for (name, sha) in MNIST_FILES {
            let p = dir.join(name);
            if p.is_file() {
                verify_sha256(&p, sha).unwrap();
            }
        }
        let train = load_mnist(&dir, Split::Train).unwrap();
        let test = load_mnist(&dir, Split::Test).unwrap();
        assert_eq!((train.len, test.len), (60_000, 10_000));
        assert_eq!(train.images.len(), 60_000 * IMAGE_PIXELS);
        assert!(train.labels.iter().chain(&test.labels).all(|&l| l <= 9));
        // Every digit occurs, and the well-known first training label is a 5.
        assert_eq!(train.labels[0], 5);
        for d in 0..10 {
            assert!(train.labels.iter().filter(|&&l| l == d).count() > 5000);
        }
        let mean =
            train.images.iter().map(|&p| f64::from(p)).sum::<f64>() / train.images.len() as f64;
        assert!((mean - 33.3).abs() < 1.0, "mean pixel {mean}");
    }

    #[test]
    fn gaussians8_samples_sit_on_the_ring() {
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        let pts = gaussians8_sample(&mut rng, 4000);
        assert_eq!(pts.len(), 8000);
        for p in pts.chunks_exact(2) {
            let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
            assert!((r - 2.0).abs() < 0.15, "radius {r}");
        }
        let c = gaussians8_coverage(&pts, 0.02, GAUSSIANS8_MODE_RADIUS);
        assert_eq!(c.modes_covered, 8);
        assert_eq!(c.total, 4000);
        assert_eq!(c.high_quality_share, 1.0);
        assert!(
            c.per_mode.iter().all(|&k| (400..600).contains(&k)),
            "{:?}",
            c.per_mode
        );
        assert_eq!(gaussians8_modes_covered(&pts, 0.02), (8, c.per_mode));
        let centers = gaussians8_centers();
        assert!((centers[2][0]).abs() < 1e-6 && (centers[2][1] - 2.0).abs() < 1e-6);
        assert!((centers[1][0] - 2f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn gaussians8_mode_collapse_is_detected() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        // All mass on mode 3, plus 1 % near mode 0 (below a 2 % share) and 10 % junk at the origin.
        let c = gaussians8_centers();
        let mut pts = Vec::new();
        for i in 0..1000 {
            let [x, y] = if i < 10 {
                c[0]
            } else if i < 110 {
                [0.0, 0.0]
            } else {
                c[3]
            };
            pts.push(x + rng.random_range(-0.05..0.05));
            pts.push(y + rng.random_range(-0.05..0.05));
        }
        pts.push(f32::NAN);
        pts.push(f32::NAN);
        let cov = gaussians8_coverage(&pts, 0.02, GAUSSIANS8_MODE_RADIUS);
        assert_eq!(cov.modes_covered, 1);
        assert_eq!(cov.per_mode, [10, 0, 0, 890, 0, 0, 0, 0]);
        assert!((cov.high_quality_share - 900.0 / 1001.0).abs() < 1e-6);
        assert!((gaussians8_high_quality_share(&pts) - cov.high_quality_share).abs() < 1e-9);
        assert_eq!(gaussians8_modes_covered(&pts, 0.005).0, 2);
        assert_eq!(gaussians8_modes_covered(&[], 0.02), (0, [0; 8]));
    }

    #[test]
    fn pixel_mapping() {
        assert_eq!(pixel_to_signed(0), -1.0);
        assert_eq!(pixel_to_signed(255), 1.0);
        for p in 0..=255u8 {
            assert_eq!(signed_to_pixel(pixel_to_signed(p)), p);
        }
        assert_eq!(signed_to_pixel(5.0), 255);
        assert_eq!(signed_to_pixel(-5.0), 0);
        assert_eq!(signed_to_pixel(f32::NAN), 0);
    }
}

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

//!
//! Files by concern: [`idx`] (the IDX format, read and written), [`download`] (fetching MNIST
//! and checking its SHA-256) and [`gaussians8`] (the toy dataset and its mode-coverage metric).

mod download;
mod gaussians8;
mod idx;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use download::{MNIST_FILES, MNIST_MIRRORS, ensure_mnist, sha256_file, verify_sha256};
pub use gaussians8::{
    GAUSSIANS8_MODE_RADIUS, GAUSSIANS8_RADIUS, GAUSSIANS8_STD, ModeCoverage, gaussians8_centers,
    gaussians8_coverage, gaussians8_high_quality_share, gaussians8_modes_covered,
    gaussians8_sample,
};
pub use idx::{
    MAX_IDX_DATA_BYTES, find_mnist_file, load_mnist, read_idx_images, read_idx_labels,
    write_idx_images, write_idx_labels,
};

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
    /// A header promising more item bytes than tinygan reads from one file
    /// ([`MAX_IDX_DATA_BYTES`]): refused before anything is allocated.
    #[error(
        "{path}: header declares {count} items = {expected_bytes} data bytes, more than the {limit} bytes tinygan reads from one file (corrupt header?)"
    )]
    TooLarge {
        /// The file concerned.
        path: PathBuf,
        /// Item count in the header.
        count: u32,
        /// Data bytes the header implies.
        expected_bytes: u64,
        /// The limit.
        limit: u64,
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

/// What the models learn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// MNIST handwritten digits.
    Mnist,
    /// A 2-D ring of 8 Gaussians (toy data for fast tests and mode-collapse demos).
    Gaussians8,
}

/// The training examples, held on the CPU; batches are assembled per step.
#[derive(Clone, Debug)]
pub enum TrainData {
    /// 28×28 u8 images (row-major, `n × 784`) and their labels.
    Images {
        /// Pixels.
        images: Vec<u8>,
        /// Labels 0..=9.
        labels: Vec<u8>,
    },
    /// Fresh draws from the 8-Gaussian ring every step.
    Gaussians8,
}

impl TrainData {
    /// The training set of `dataset`: MNIST's training split from `dir` (see
    /// [`resolve_data_dir`]; downloaded if missing), or the toy ring.
    pub fn load(dataset: Dataset, dir: Option<&Path>) -> Result<Self, DataError> {
        Ok(match dataset {
            Dataset::Gaussians8 => TrainData::Gaussians8,
            Dataset::Mnist => {
                let dir = resolve_data_dir(dir);
                ensure_mnist(&dir)?;
                let m = load_mnist(&dir, Split::Train)?;
                TrainData::Images {
                    images: m.images,
                    labels: m.labels,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;

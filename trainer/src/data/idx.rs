//! The IDX format MNIST ships in (big-endian header, then `u8` items), gzipped or raw: reading
//! with full validation, and writing (atomically, through [`export::atomic`]).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::{
    DataError, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, IMAGE_PIXELS, IMAGE_SIDE, Mnist, Split,
};

pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

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
    export::atomic::write_atomic_with(path, |w| {
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

//! The IDX format MNIST ships in (big-endian header, then `u8` items), gzipped or raw: reading
//! with full validation, and writing (atomically, through [`export::atomic`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
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

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The most item bytes tinygan reads from one IDX file: 2 GiB, about 2.7 million images (45 times
/// MNIST's training set). A header that promises more is refused before anything is allocated.
pub const MAX_IDX_DATA_BYTES: u64 = 1 << 31;

/// Reads and checks an IDX file (gzipped when it starts with the gzip magic `1f 8b`, whatever
/// its name): the header first, then exactly the item bytes the header promises. Nothing is
/// allocated for a header that promises more than [`MAX_IDX_DATA_BYTES`] or, for an uncompressed
/// file, more or less than the file holds. Returns `(count, items)`.
fn read_idx(path: &Path, magic: u32, what: &'static str) -> Result<(u32, Vec<u8>), DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut buffered = BufReader::new(file);
    let gz = buffered
        .fill_buf()
        .map_err(|e| DataError::io(path, e))?
        .starts_with(&GZIP_MAGIC);
    let read_error = |source: io::Error| {
        if gz {
            DataError::Gzip {
                path: path.to_path_buf(),
                source,
            }
        } else {
            DataError::io(path, source)
        }
    };
    let mut reader: Box<dyn Read> = if gz {
        Box::new(GzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };

    let header_len = if magic == IDX_IMAGES_MAGIC { 16 } else { 8 };
    let mut header = Vec::with_capacity(header_len);
    (&mut reader)
        .take(header_len as u64)
        .read_to_end(&mut header)
        .map_err(read_error)?;
    let truncated = || DataError::TruncatedHeader {
        path: path.to_path_buf(),
        len: header.len(),
        needed: header_len,
    };
    if header.len() < 4 {
        return Err(truncated());
    }
    let found = be_u32(&header, 0);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            what,
        });
    }
    if header.len() < header_len {
        return Err(truncated());
    }
    let count = be_u32(&header, 4);
    let item_len = if magic == IDX_IMAGES_MAGIC {
        let (rows, cols) = (be_u32(&header, 8), be_u32(&header, 12));
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
    let expected_bytes = u64::from(count) * item_len;
    if expected_bytes > MAX_IDX_DATA_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            count,
            expected_bytes,
            limit: MAX_IDX_DATA_BYTES,
        });
    }
    let mismatch = |actual_bytes: u64| DataError::SizeMismatch {
        path: path.to_path_buf(),
        count,
        expected_bytes,
        actual_bytes,
    };
    if !gz && file_len.saturating_sub(header_len as u64) != expected_bytes {
        return Err(mismatch(file_len.saturating_sub(header_len as u64)));
    }
    // Grown as the bytes arrive (a gzip stream's length is unknown until it is read).
    let mut data = Vec::with_capacity(expected_bytes.min(64 << 20) as usize);
    (&mut reader)
        .take(expected_bytes)
        .read_to_end(&mut data)
        .map_err(read_error)?;
    // Anything after the promised items: count it (without keeping it) for the message.
    let trailing = io::copy(&mut reader, &mut io::sink()).map_err(read_error)?;
    if data.len() as u64 != expected_bytes || trailing > 0 {
        return Err(mismatch(data.len() as u64 + trailing));
    }
    Ok((count, data))
}

/// Reads an IDX3 images file (magic 2051, 28 × 28 `u8` images), gzipped or raw. Returns the
/// pixels (`count × 784`) and the image count.
pub fn read_idx_images(path: &Path) -> Result<(Vec<u8>, usize), DataError> {
    let (count, data) = read_idx(path, IDX_IMAGES_MAGIC, "images")?;
    Ok((data, count as usize))
}

/// Reads an IDX1 labels file (magic 2049, `u8` labels), gzipped or raw, checking every label is a
/// digit 0–9.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let (_, data) = read_idx(path, IDX_LABELS_MAGIC, "labels")?;
    if let Some((index, &label)) = data.iter().enumerate().find(|&(_, &l)| l > 9) {
        return Err(DataError::BadLabel {
            path: path.to_path_buf(),
            index,
            label,
        });
    }
    Ok(data)
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

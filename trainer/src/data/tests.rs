use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::download::ensure_mnist_from;
use super::idx::GZIP_MAGIC;
use super::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::{Rng, SeedableRng};
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
        Err(DataError::TooLarge { .. })
    ));
    // A gzipped file with trailing bytes reports how many it holds.
    let p = write(dir.path(), "d.gz", &gz(&images_bytes(2, 28, 28, 3)));
    assert!(matches!(
        read_idx_images(&p),
        Err(DataError::SizeMismatch {
            count: 2,
            expected_bytes: 1568,
            actual_bytes: 2352,
            ..
        })
    ));
}

/// Absurd dimensions (2³² − 1 images, 3.4 TB) are refused from the header alone, gzipped or not,
/// before any allocation; just under the limit, a short file is a size mismatch found without
/// reading (raw) or after reading what is there (gzip).
#[test]
fn absurd_counts_are_refused_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["raw", "packed.gz"] {
        let bytes = images_bytes(u32::MAX, 28, 28, 1);
        let bytes = if name.ends_with(".gz") {
            gz(&bytes)
        } else {
            bytes
        };
        let p = write(dir.path(), name, &bytes);
        let err = read_idx_images(&p).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::TooLarge {
                    count: u32::MAX,
                    ..
                }
            ),
            "{name}: {err}"
        );
        assert!(err.to_string().contains("more than the"), "{err}");
    }
    let max_images = (MAX_IDX_DATA_BYTES / IMAGE_PIXELS as u64) as u32;
    for name in ["raw2", "packed2.gz"] {
        let bytes = images_bytes(max_images, 28, 28, 1);
        let bytes = if name.ends_with(".gz") {
            gz(&bytes)
        } else {
            bytes
        };
        let p = write(dir.path(), name, &bytes);
        assert!(matches!(
            read_idx_images(&p),
            Err(DataError::SizeMismatch {
                actual_bytes: 784,
                ..
            })
        ));
    }
}

/// Any bytes at all, and any single-byte change or cut of a valid file, gzipped or not, give a
/// result or a typed error, never a panic (the IDX reader's share of the fuzzing issue, without
/// a second, sanitizer build of Burn: a seeded mutation sweep).
#[test]
fn mutated_idx_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Pcg64Mcg::seed_from_u64(19);
    let valid_images = images_bytes(3, 28, 28, 3);
    let valid_labels = labels_bytes(3, &[1, 2, 3]);
    let mut tried = 0;
    for base in [&valid_images, &valid_labels] {
        for packed in [false, true] {
            let base = if packed { gz(base) } else { base.clone() };
            for _ in 0..400 {
                let mut m = base.clone();
                match rng.random_range(0..3) {
                    0 => {
                        let i = rng.random_range(0..m.len());
                        m[i] = rng.random();
                    }
                    1 => m.truncate(rng.random_range(0..m.len())),
                    _ => {
                        let i = rng.random_range(0..m.len().min(24));
                        m[i] ^= 1 << rng.random_range(0..8);
                    }
                }
                let p = write(dir.path(), if packed { "m.gz" } else { "m" }, &m);
                let _ = read_idx_images(&p);
                let _ = read_idx_labels(&p);
                tried += 1;
            }
        }
    }
    for len in [0, 1, 3, 4, 7, 8, 15, 16, 17, 100] {
        let junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let p = write(dir.path(), "junk", &junk);
        let _ = read_idx_images(&p);
        let _ = read_idx_labels(&p);
        tried += 1;
    }
    assert_eq!(tried, 1610);
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
    let mean = train.images.iter().map(|&p| f64::from(p)).sum::<f64>() / train.images.len() as f64;
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

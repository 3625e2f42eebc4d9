//! `tinygan eval`: the Fréchet distance against closed forms, the class figures, the classifier
//! (trained on a small MNIST subset — the full training is far too slow for tests), its cache
//! (exact round trip, corruption detected) and the command's input errors.
//!
//! MNIST is read from `$TINYGAN_DATA`, else from `shared/mnist` next to the workspace.

use std::path::PathBuf;
use std::sync::OnceLock;

use burn::prelude::*;
use clap::Parser;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;
use trainer::cli::{EvalArgs, eval_command};
use trainer::data::{self, IMAGE_PIXELS, Split};
use trainer::eval::classifier::{
    self, CacheError, ClassifierSettings, load_cached_classifier, load_or_train_classifier_with,
    meta_path, save_classifier,
};
use trainer::eval::frechet::{psd_sqrt, symmetric_eigen};
use trainer::eval::{
    ClassFigures, FEATURE_DIM, FcdProbe, GaussianStats, class_entropy, features_and_probs,
    frechet_distance, frechet_distance_stats, quick_fcd, read_idx_samples,
};
use trainer::model::{GeneratorConfig, Preset, init_seeded};

mod common;

// ---------------------------------------------------------------------------------------------
// Fréchet distance

fn gaussian_feats(n: usize, dim: usize, seed: u64, scale: &[f64], shift: &[f64]) -> Vec<f32> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut v = Vec::with_capacity(n * dim);
    for _ in 0..n {
        for d in 0..dim {
            let z: f64 = rng.sample(StandardNormal);
            v.push((z * scale[d] + shift[d]) as f32);
        }
    }
    v
}

/// A random orthogonal matrix (Gram–Schmidt of a Gaussian matrix), row-major.
fn random_orthogonal(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut q: Vec<Vec<f64>> = Vec::new();
    while q.len() < n {
        let mut v: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
        for u in &q {
            let d: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            for (x, y) in v.iter_mut().zip(u) {
                *x -= d * y;
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-6 {
            q.push(v.iter().map(|x| x / norm).collect());
        }
    }
    q.concat()
}

/// `R diag(d) Rᵀ`.
fn rotated_diag(r: &[f64], d: &[f64]) -> Vec<f64> {
    let n = d.len();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = (0..n).map(|k| r[i * n + k] * d[k] * r[j * n + k]).sum();
        }
    }
    out
}

fn stats(mean: Vec<f64>, cov: Vec<f64>) -> GaussianStats {
    GaussianStats {
        dim: mean.len(),
        n: 1000,
        mean,
        cov,
    }
}

#[test]
fn frechet_of_identical_sets_is_zero() {
    let dim = 32;
    let scale: Vec<f64> = (0..dim).map(|d| 0.5 + d as f64 * 0.1).collect();
    let a = gaussian_feats(3000, dim, 1, &scale, &vec![1.0; dim]);
    let d = frechet_distance(&a, &a, dim);
    let trace: f64 = GaussianStats::from_features(&a, dim)
        .cov
        .iter()
        .step_by(dim + 1)
        .sum();
    assert!(
        d >= 0.0 && d < 1e-9 * trace,
        "FD(a, a) = {d} (trace {trace})"
    );
}

#[test]
fn frechet_of_shifted_set_is_squared_shift() {
    // Shifting every vector leaves the sample covariance unchanged: d² = ‖δ‖² exactly.
    let dim = 24;
    let scale: Vec<f64> = (0..dim).map(|d| 1.0 + (d % 5) as f64).collect();
    let a = gaussian_feats(2000, dim, 2, &scale, &vec![0.0; dim]);
    let delta: Vec<f32> = (0..dim).map(|d| (d as f32 - 10.0) * 0.25).collect();
    let b: Vec<f32> = a
        .chunks(dim)
        .flat_map(|r| r.iter().zip(&delta).map(|(x, s)| x + s))
        .collect();
    let expected: f64 = delta.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let d = frechet_distance(&a, &b, dim);
    assert!(
        (d - expected).abs() < 1e-3 * expected.max(1.0),
        "FD {d}, expected {expected}"
    );
}

#[test]
fn frechet_matches_closed_form_for_diagonal_and_commuting_covariances() {
    // Σ₁ = diag(a), Σ₂ = diag(b): d² = ‖Δμ‖² + Σ (√aᵢ − √bᵢ)².
    let n = 16;
    let a: Vec<f64> = (0..n).map(|i| 0.5 + i as f64).collect();
    let b: Vec<f64> = (0..n).map(|i| 4.0 / (1.0 + i as f64)).collect();
    let mu1: Vec<f64> = (0..n).map(|i| i as f64 * 0.1).collect();
    let mu2: Vec<f64> = (0..n).map(|i| 1.0 - i as f64 * 0.05).collect();
    let mean_term: f64 = mu1.iter().zip(&mu2).map(|(x, y)| (x - y) * (x - y)).sum();
    let expected = mean_term
        + a.iter()
            .zip(&b)
            .map(|(x, y)| (x.sqrt() - y.sqrt()).powi(2))
            .sum::<f64>();
    let eye: Vec<f64> = (0..n * n)
        .map(|k| if k % (n + 1) == 0 { 1.0 } else { 0.0 })
        .collect();
    let diag = frechet_distance_stats(
        &stats(mu1.clone(), rotated_diag(&eye, &a)),
        &stats(mu2.clone(), rotated_diag(&eye, &b)),
    );
    assert!(
        (diag - expected).abs() < 1e-10 * expected,
        "diagonal: {diag} vs {expected}"
    );
    // The same spectra in a common random basis (commuting, non-diagonal): same distance.
    let r = random_orthogonal(n, 3);
    let rot = frechet_distance_stats(
        &stats(mu1, rotated_diag(&r, &a)),
        &stats(mu2, rotated_diag(&r, &b)),
    );
    assert!(
        (rot - expected).abs() < 1e-9 * expected,
        "rotated: {rot} vs {expected}"
    );
}

#[test]
fn frechet_against_identity_and_a_non_diagonal_covariance() {
    // Σ₁ = I, Σ₂ = [[2, 1], [1, 2]] (eigenvalues 3 and 1): d² = (1 − √3)² + (1 − 1)².
    let d = frechet_distance_stats(
        &stats(vec![0.0, 0.0], vec![1.0, 0.0, 0.0, 1.0]),
        &stats(vec![0.0, 0.0], vec![2.0, 1.0, 1.0, 2.0]),
    );
    let expected = (1.0 - 3f64.sqrt()).powi(2);
    assert!((d - expected).abs() < 1e-12, "{d} vs {expected}");
}

#[test]
fn frechet_is_symmetric_and_handles_singular_covariances() {
    let dim = 20;
    let s1: Vec<f64> = (0..dim).map(|d| 0.3 + 0.2 * d as f64).collect();
    let s2: Vec<f64> = (0..dim).map(|d| 3.0 - 0.1 * d as f64).collect();
    let a = gaussian_feats(1500, dim, 4, &s1, &vec![0.0; dim]);
    // b lives in a 10-dimensional subspace (like post-ReLU features that are often 0).
    let mut b = gaussian_feats(1500, dim, 5, &s2, &vec![0.5; dim]);
    for row in b.chunks_mut(dim) {
        for x in &mut row[10..] {
            *x = 0.0;
        }
    }
    let ab = frechet_distance(&a, &b, dim);
    let ba = frechet_distance(&b, &a, dim);
    assert!(ab.is_finite() && ab > 0.0);
    assert!((ab - ba).abs() < 1e-9 * ab, "FD(a,b) {ab} ≠ FD(b,a) {ba}");
}

#[test]
fn symmetric_eigen_reconstructs_the_matrix() {
    let n = 40;
    let mut rng = Pcg64::seed_from_u64(6);
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in i..n {
            let v: f64 = rng.sample(StandardNormal);
            a[i * n + j] = v;
            a[j * n + i] = v;
        }
    }
    let (vals, v) = symmetric_eigen(&a, n);
    for i in 0..n {
        for j in 0..n {
            let rec: f64 = (0..n).map(|k| v[i * n + k] * vals[k] * v[j * n + k]).sum();
            let orth: f64 = (0..n).map(|k| v[k * n + i] * v[k * n + j]).sum();
            assert!((rec - a[i * n + j]).abs() < 1e-11, "A[{i},{j}]");
            assert!(
                (orth - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12,
                "VᵀV[{i},{j}]"
            );
        }
    }
    // And the PSD square root squares back.
    let spd = rotated_diag(
        &random_orthogonal(n, 7),
        &(0..n).map(|i| i as f64).collect::<Vec<_>>(),
    );
    let s = psd_sqrt(&spd, n);
    for i in 0..n {
        for j in 0..n {
            let sq: f64 = (0..n).map(|k| s[i * n + k] * s[k * n + j]).sum();
            assert!((sq - spd[i * n + j]).abs() < 1e-10);
        }
    }
}

#[test]
fn class_entropy_and_figures() {
    assert!((class_entropy(&[7; 10]) - 10f64.ln()).abs() < 1e-12);
    assert_eq!(class_entropy(&[0, 0, 50, 0, 0, 0, 0, 0, 0, 0]), 0.0);
    assert_eq!(class_entropy(&[0; 10]), 0.0);
    assert!((class_entropy(&[5, 5, 0, 0, 0, 0, 0, 0, 0, 0]) - 2f64.ln()).abs() < 1e-12);
    // Three samples: confident 3, confident 7, unsure (0.5 on 1).
    let mut probs = vec![0f32; 30];
    probs[3] = 0.95;
    probs[10 + 7] = 0.99;
    probs[20 + 1] = 0.5;
    probs[20 + 2] = 0.3;
    let f = ClassFigures::from_probs(&probs);
    assert_eq!(f.histogram, [0, 1, 0, 1, 0, 0, 0, 1, 0, 0]);
    assert!((f.confident_share - 2.0 / 3.0).abs() < 1e-12);
    assert!((f.entropy - 3f64.ln()).abs() < 1e-12);
}

// ---------------------------------------------------------------------------------------------
// Classifier and cache (on a small MNIST subset)

/// The MNIST directory, as a path.
fn mnist_dir() -> PathBuf {
    common::mnist_dir().into()
}

/// 2000 training images, 2 epochs at batch 64 (64 Adam steps); test on 1000 test images.
fn small_settings() -> ClassifierSettings {
    ClassifierSettings {
        epochs: 2,
        batch: 64,
        lr: 1e-3,
        seed: 3,
        train_images: Some(2000),
        test_images: Some(1000),
    }
}

const SMALL_ACCURACY_BOUND: f64 = 0.75;

/// The small classifier, trained once per test process (its record bytes and test accuracy).
fn small_classifier() -> &'static (Vec<u8>, f64) {
    static CELL: OnceLock<(Vec<u8>, f64)> = OnceLock::new();
    CELL.get_or_init(|| {
        let dir = mnist_dir();
        let device = Device::flex();
        let train = data::load_mnist(&dir, Split::Train).unwrap();
        let test = data::load_mnist(&dir, Split::Test).unwrap();
        let (c, log) = classifier::train_classifier(
            &train.images[..2000 * IMAGE_PIXELS],
            &train.labels[..2000],
            &small_settings(),
            &device,
            false,
        )
        .unwrap();
        assert_eq!(log.epoch_loss.len(), 2);
        let acc = classifier::accuracy(
            &c,
            &test.images[..1000 * IMAGE_PIXELS],
            &test.labels[..1000],
            &device,
        );
        eprintln!(
            "small classifier: test accuracy {:.2}% in {:.1}s",
            acc * 100.0,
            log.epoch_seconds.iter().sum::<f64>()
        );
        (classifier::record_bytes(&c).unwrap(), acc)
    })
}

#[test]
fn classifier_trains_well_above_chance_on_a_small_subset() {
    let (_, acc) = small_classifier();
    // Chance is 10%; 64 steps on 2000 digits measured 86.8% (seed 3).
    assert!(
        *acc >= SMALL_ACCURACY_BOUND,
        "test accuracy {acc} < {SMALL_ACCURACY_BOUND}"
    );
}

#[test]
fn classifier_features_and_probabilities_are_well_formed() {
    let device = Device::flex();
    let c = classifier::classifier_from_bytes(&small_classifier().0, &device).unwrap();
    let test = data::load_mnist(&mnist_dir(), Split::Test).unwrap();
    let n = 7;
    let (f, p) = features_and_probs(&c, &test.images[..n * IMAGE_PIXELS], n, &device);
    assert_eq!(f.len(), n * FEATURE_DIM);
    assert_eq!(p.len(), n * 10);
    assert!(
        f.iter().all(|&x| x >= 0.0 && x.is_finite()),
        "post-ReLU features"
    );
    for row in p.chunks(10) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
}

#[test]
fn classifier_cache_round_trips_exactly_and_detects_corruption() {
    let device = Device::flex();
    let (bytes, acc) = small_classifier();
    let c = classifier::classifier_from_bytes(bytes, &device).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("sub/classifier.bpk");
    let meta = classifier::ClassifierMeta {
        format_version: 0,
        architecture: String::new(),
        settings: small_settings(),
        test_accuracy: *acc,
        test_count: 1000,
        train_count: 2000,
        train_seconds: 1.0,
        weights_sha256: String::new(),
        weights_bytes: 0,
    };
    let written = save_classifier(&cache, &c, meta).unwrap();
    assert_eq!(written.format_version, classifier::CACHE_FORMAT_VERSION);

    // Exact round trip: same record bytes, same features.
    let (loaded, m) = load_cached_classifier(&cache, &device, Some(&small_settings())).unwrap();
    assert_eq!(m, written);
    assert_eq!(classifier::record_bytes(&loaded).unwrap(), *bytes);
    let test = data::load_mnist(&mnist_dir(), Split::Test).unwrap();
    let imgs = &test.images[..20 * IMAGE_PIXELS];
    assert_eq!(
        features_and_probs(&c, imgs, 20, &device),
        features_and_probs(&loaded, imgs, 20, &device)
    );

    // Other settings: stale.
    let other = ClassifierSettings {
        seed: 99,
        ..small_settings()
    };
    assert!(matches!(
        load_cached_classifier(&cache, &device, Some(&other)),
        Err(CacheError::Stale(_))
    ));

    let good_bpk = std::fs::read(&cache).unwrap();
    let good_json = std::fs::read(meta_path(&cache)).unwrap();
    let restore = || {
        std::fs::write(&cache, &good_bpk).unwrap();
        std::fs::write(meta_path(&cache), &good_json).unwrap();
    };
    let expect_corrupt = |what: &str| match load_cached_classifier(&cache, &device, None) {
        Err(CacheError::Corrupt { reason, .. }) => eprintln!("{what}: {reason}"),
        Err(e) => panic!("{what}: expected Corrupt, got {e}"),
        Ok(_) => panic!("{what}: corrupt cache accepted"),
    };
    // One flipped bit in the weights.
    let mut bad = good_bpk.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    std::fs::write(&cache, &bad).unwrap();
    expect_corrupt("flipped bit");
    // Truncated weights.
    std::fs::write(&cache, &good_bpk[..good_bpk.len() / 3]).unwrap();
    expect_corrupt("truncated weights");
    restore();
    // Garbage metadata.
    std::fs::write(meta_path(&cache), b"{ not json").unwrap();
    expect_corrupt("garbage metadata");
    // Another format version.
    let mut v: serde_json::Value = serde_json::from_slice(&good_json).unwrap();
    v["format_version"] = serde_json::json!(classifier::CACHE_FORMAT_VERSION + 1);
    std::fs::write(meta_path(&cache), serde_json::to_vec(&v).unwrap()).unwrap();
    expect_corrupt("format version");
    // Garbage weights with a metadata file that vouches for them (the record parser must not
    // panic).
    let garbage: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&cache, &garbage).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&good_json).unwrap();
    v["weights_bytes"] = serde_json::json!(garbage.len());
    v["weights_sha256"] = serde_json::json!(data::sha256_file(&cache).unwrap());
    std::fs::write(meta_path(&cache), serde_json::to_vec(&v).unwrap()).unwrap();
    expect_corrupt("garbage record");
    // Missing.
    std::fs::remove_file(meta_path(&cache)).unwrap();
    assert!(matches!(
        load_cached_classifier(&cache, &device, None),
        Err(CacheError::Missing(_))
    ));
}

#[test]
fn corrupt_cache_is_retrained_not_fatal() {
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("classifier.bpk");
    std::fs::write(&cache, b"garbage").unwrap();
    std::fs::write(meta_path(&cache), b"garbage").unwrap();
    let tiny = ClassifierSettings {
        epochs: 1,
        batch: 64,
        lr: 1e-3,
        seed: 1,
        train_images: Some(128),
        test_images: Some(64),
    };
    let (_, meta) =
        load_or_train_classifier_with(&mnist_dir(), &cache, &device, false, &tiny, false).unwrap();
    assert_eq!(meta.train_count, 128);
    assert_eq!(meta.test_count, 64);
    // Now valid: loaded, not retrained.
    let (_, again) = load_cached_classifier(&cache, &device, Some(&tiny)).unwrap();
    assert_eq!(again, meta);
}

#[test]
fn probe_scores_the_reference_itself_as_zero_and_a_random_generator_far_away() {
    let device = Device::flex();
    let (bytes, acc) = small_classifier();
    let c = classifier::classifier_from_bytes(bytes, &device).unwrap();
    let test = data::load_mnist(&mnist_dir(), Split::Test).unwrap();
    let reference = &test.images[..500 * IMAGE_PIXELS];
    let probe = FcdProbe::from_parts(c, *acc, reference, &device).unwrap();
    let same = probe.fcd(reference, 500).unwrap();
    assert!(same < 1e-6, "FCD of the reference to itself: {same}");
    let other = probe
        .fcd(&test.images[500 * IMAGE_PIXELS..1000 * IMAGE_PIXELS], 500)
        .unwrap();
    let generator = init_seeded(&device, 1, |d| GeneratorConfig::new(Preset::Tiny).init(d));
    let untrained = quick_fcd(&probe, &generator, &device, 200, 1).unwrap();
    assert!(
        untrained.is_finite() && untrained > 5.0 * other,
        "untrained generator FCD {untrained} vs real digits {other}"
    );
    assert!(probe.fcd(reference, 1).is_err());
}

// ---------------------------------------------------------------------------------------------
// Command input errors (all detected before any classifier training)

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    eval: EvalArgs,
}

fn args(extra: &[&str]) -> EvalArgs {
    let mut v = vec!["eval", "--device", "cpu"];
    v.extend_from_slice(extra);
    Wrapper::try_parse_from(v).unwrap().eval
}

#[test]
fn malformed_idx_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    // Header for 10 images, data for 5.
    let path = tmp.path().join("short.idx");
    let mut bytes = Vec::new();
    for v in [2051u32, 10, 28, 28] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    bytes.extend(std::iter::repeat_n(0u8, 5 * 784));
    std::fs::write(&path, &bytes).unwrap();
    let e = format!("{:#}", read_idx_samples(&path, 100).unwrap_err());
    assert!(e.contains("short.idx") && e.contains("truncated"), "{e}");
    // Through the command (an absent cache path proves nothing was trained).
    let cache = tmp.path().join("never-written.bpk");
    let p = path.to_str().unwrap();
    let c = cache.to_str().unwrap();
    let e = format!(
        "{:#}",
        eval_command(args(&["--idx", p, "--cache", c])).unwrap_err()
    );
    assert!(e.contains("short.idx"), "{e}");
    // Labels file instead of images.
    let labels = tmp.path().join("labels.idx");
    data::write_idx_labels(&labels, &[1, 2, 3]).unwrap();
    let e = format!("{:#}", read_idx_samples(&labels, 10).unwrap_err());
    assert!(e.contains("magic"), "{e}");
    // Empty image file.
    let empty = tmp.path().join("empty.idx");
    data::write_idx_images(&empty, &[], 0).unwrap();
    assert!(read_idx_samples(&empty, 10).is_err());
    // Missing file.
    let e = format!(
        "{:#}",
        eval_command(args(&["--idx", "/nonexistent/x.idx", "--cache", c])).unwrap_err()
    );
    assert!(e.contains("/nonexistent/x.idx"), "{e}");
    // Missing run checkpoint.
    let e = format!(
        "{:#}",
        eval_command(args(&["--run", tmp.path().to_str().unwrap(), "--cache", c])).unwrap_err()
    );
    assert!(e.contains("no checkpoint"), "{e}");
    assert!(!cache.exists());
    // A valid file is read (first n images).
    let ok = tmp.path().join("ok.idx.gz");
    data::write_idx_images(&ok, &vec![7u8; 3 * 784], 3).unwrap();
    let s = read_idx_samples(&ok, 2).unwrap();
    assert_eq!((s.n, s.images.len()), (2, 2 * 784));
}

#[test]
fn eval_needs_exactly_one_input() {
    assert!(Wrapper::try_parse_from(["eval", "--run", "a", "--idx", "b"]).is_err());
    let e = eval_command(args(&[])).unwrap_err().to_string();
    assert!(e.contains("--run") && e.contains("--idx"), "{e}");
    let e = eval_command(args(&["--idx", "x", "--n", "1"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--n"), "{e}");
    let mut a = args(&["--idx", "x"]);
    a.run = Some("y".into());
    assert!(
        eval_command(a)
            .unwrap_err()
            .to_string()
            .contains("only one")
    );
}

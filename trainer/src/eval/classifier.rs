//! The digit classifier whose penultimate layer is the feature space of the FCD, its training on
//! MNIST, and its on-disk cache.
//!
//! Architecture: `Conv(1→32, k3) → ReLU → MaxPool2 → Conv(32→64, k3) → ReLU → MaxPool2 →
//! Linear(1600→128) → ReLU → Linear(128→10)`; the 128 post-ReLU activations are the features.
//!
//! # Cache
//!
//! Training takes minutes on a CPU, so the weights are cached: `classifier.bpk` (a burnpack
//! record) and, next to it, `classifier.json` ([`ClassifierMeta`]: format version, architecture,
//! training settings, measured test accuracy, SHA-256 of the weights). [`default_cache_path`] is
//! `$TINYGAN_CACHE/classifier.bpk` if that variable is set, else
//! `$XDG_CACHE_HOME/tinygan/classifier.bpk`, else `~/.cache/tinygan/classifier.bpk`. Loading
//! checks every field and the checksum before the record is parsed; a cache that fails any check
//! is reported ([`CacheError`]) and [`load_or_train_classifier`] retrains over it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use burn::tensor::activation::{log_softmax, relu, softmax};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::{self, IMAGE_PIXELS, IMAGE_SIDE, Split};
use crate::model::init_seeded;

/// Width of the feature layer (the FCD's feature space).
pub const FEATURE_DIM: usize = 128;
/// Number of classes.
pub const NUM_CLASSES: usize = 10;
/// Version of the cache format ([`ClassifierMeta::format_version`]); bumped whenever the file
/// layout, the architecture or the input normalisation changes, which invalidates old caches.
pub const CACHE_FORMAT_VERSION: u32 = 1;
/// Name of the architecture stored in the cache metadata.
pub const ARCHITECTURE: &str = "conv32k3-pool-conv64k3-pool-fc128-fc10/norm-mnist";
/// Environment variable naming the cache directory.
pub const CACHE_ENV: &str = "TINYGAN_CACHE";
/// File name of the cached weights inside the cache directory.
pub const CACHE_FILE: &str = "classifier.bpk";

// MNIST pixel mean and standard deviation (of p / 255), the usual input normalisation.
const PIXEL_MEAN: f32 = 0.1307;
const PIXEL_STD: f32 = 0.3081;
// Images per forward pass at inference.
const INFER_BATCH: usize = 500;

/// The digit classifier. Build it with [`Classifier::new`]; the features are the 128 post-ReLU
/// activations of `fc1`.
#[derive(Module, Debug)]
pub struct Classifier {
    /// `Conv(1→32, k3)`, 28×28 → 26×26.
    pub conv1: Conv2d,
    /// `Conv(32→64, k3)`, 13×13 → 11×11.
    pub conv2: Conv2d,
    /// 2×2 max pooling (after each convolution).
    pub pool: MaxPool2d,
    /// `Linear(64·5·5 → 128)`: the feature layer.
    pub fc1: Linear,
    /// `Linear(128 → 10)`: class logits.
    pub fc2: Linear,
}

impl Classifier {
    /// A classifier with freshly initialised weights (Burn's default initialisers) on `device`.
    pub fn new(device: &Device) -> Self {
        Classifier {
            conv1: Conv2dConfig::new([1, 32], [3, 3]).init(device),
            conv2: Conv2dConfig::new([32, 64], [3, 3]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(64 * 5 * 5, FEATURE_DIM).init(device),
            fc2: LinearConfig::new(FEATURE_DIM, NUM_CLASSES).init(device),
        }
    }

    /// Features `[N, 128]` and logits `[N, 10]` of normalised images `[N, 1, 28, 28]` (see
    /// [`images_tensor`]).
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let n = x.dims()[0];
        let h = self.pool.forward(relu(self.conv1.forward(x)));
        let h = self.pool.forward(relu(self.conv2.forward(h)));
        let feats = relu(self.fc1.forward(h.reshape([n, 64 * 5 * 5])));
        let logits = self.fc2.forward(feats.clone());
        (feats, logits)
    }
}

/// `u8` images (`n × 784`, 0 = background) as the classifier's normalised input `[n, 1, 28, 28]`.
///
/// # Panics
/// If `images.len()` is not a multiple of 784.
pub fn images_tensor(images: &[u8], device: &Device) -> Tensor<4> {
    assert!(
        images.len().is_multiple_of(IMAGE_PIXELS),
        "images_tensor: {} bytes are not whole 28x28 images",
        images.len()
    );
    let n = images.len() / IMAGE_PIXELS;
    let v: Vec<f32> = images
        .iter()
        .map(|&p| (f32::from(p) / 255.0 - PIXEL_MEAN) / PIXEL_STD)
        .collect();
    Tensor::from_data(TensorData::new(v, [n, 1, IMAGE_SIDE, IMAGE_SIDE]), device)
}

fn to_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .expect("float tensor converts to f32")
}

/// Penultimate-layer features (`n × 128`) and class probabilities (`n × 10`) of `n` `u8` images
/// (`images.len() == n × 784`), computed in batches of 500 on `device` (which must be the
/// classifier's device).
///
/// # Panics
/// If `images.len() != n × 784`.
pub fn features_and_probs(
    classifier: &Classifier,
    images: &[u8],
    n: usize,
    device: &Device,
) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(
        images.len(),
        n * IMAGE_PIXELS,
        "features_and_probs: {} bytes are not {n} images of 28x28",
        images.len()
    );
    let mut feats = Vec::with_capacity(n * FEATURE_DIM);
    let mut probs = Vec::with_capacity(n * NUM_CLASSES);
    for chunk in images.chunks(INFER_BATCH * IMAGE_PIXELS) {
        let (f, logits) = classifier.forward(images_tensor(chunk, device));
        feats.extend(to_f32(f));
        probs.extend(to_f32(softmax(logits, 1)));
    }
    (feats, probs)
}

/// Index of the largest value of each row of `probs` (`n × 10`).
pub fn argmax_rows(probs: &[f32]) -> Vec<u8> {
    probs
        .chunks_exact(NUM_CLASSES)
        .map(|row| {
            let mut best = 0;
            for (i, &p) in row.iter().enumerate() {
                if p > row[best] {
                    best = i;
                }
            }
            best as u8
        })
        .collect()
}

/// Share of `images` (`n × 784`) whose predicted class equals its label.
pub fn accuracy(classifier: &Classifier, images: &[u8], labels: &[u8], device: &Device) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let (_, probs) = features_and_probs(classifier, images, labels.len(), device);
    let hits = argmax_rows(&probs)
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    hits as f64 / labels.len() as f64
}

/// How the classifier is trained. Part of the cache key: a cache trained with other settings is
/// stale and retrained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierSettings {
    /// Passes over the training images.
    pub epochs: usize,
    /// Batch size.
    pub batch: usize,
    /// Adam's initial learning rate; it follows a cosine schedule down to 5% of this.
    pub lr: f64,
    /// Seed of the initialisation and of the shuffling.
    pub seed: u64,
    /// Train on only the first this-many training images (`None`: all 60 000).
    pub train_images: Option<usize>,
    /// Measure the accuracy on only the first this-many test images (`None`: all 10 000).
    pub test_images: Option<usize>,
}

impl Default for ClassifierSettings {
    /// 3 epochs of Adam (1e-3, cosine to 5e-5), batch 128, seed 0, the full MNIST splits.
    fn default() -> Self {
        ClassifierSettings {
            epochs: 3,
            batch: 128,
            lr: 1e-3,
            seed: 0,
            train_images: None,
            test_images: None,
        }
    }
}

/// What training measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
    /// Wall-clock seconds of each epoch.
    pub epoch_seconds: Vec<f64>,
    /// Mean cross-entropy of each epoch's batches.
    pub epoch_loss: Vec<f64>,
}

/// Trains a fresh classifier on `images` (`n × 784`) and `labels` on `device` (autodiff is enabled
/// internally). The returned classifier lives on `device` without autodiff. `progress` shows a
/// progress bar on stderr.
pub fn train_classifier(
    images: &[u8],
    labels: &[u8],
    settings: &ClassifierSettings,
    device: &Device,
    progress: bool,
) -> anyhow::Result<(Classifier, TrainLog)> {
    let n = labels.len();
    anyhow::ensure!(n > 0, "no training images for the classifier");
    anyhow::ensure!(
        images.len() == n * IMAGE_PIXELS,
        "classifier training: {} bytes of images for {n} labels",
        images.len()
    );
    anyhow::ensure!(
        settings.epochs >= 1 && settings.batch >= 1,
        "epochs and batch must be ≥ 1"
    );
    anyhow::ensure!(
        settings.lr > 0.0 && settings.lr.is_finite(),
        "learning rate must be > 0"
    );
    let ad = device.clone().autodiff();
    let mut model = init_seeded(&ad, settings.seed, Classifier::new);
    let mut opt = AdamConfig::new().with_epsilon(1e-8).init();
    let mut rng = Pcg64::seed_from_u64(settings.seed ^ 0x636c_6173_7369_6679);
    let steps_per_epoch = n.div_ceil(settings.batch);
    let total_steps = steps_per_epoch * settings.epochs;
    let bar = if progress {
        ProgressBar::new(total_steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "classifier [{elapsed_precise}] {bar:30} {pos}/{len} {per_sec} eta {eta} {msg}",
        )
        .expect("valid template"),
    );
    let mut log = TrainLog {
        epoch_seconds: Vec::new(),
        epoch_loss: Vec::new(),
    };
    let mut order: Vec<usize> = (0..n).collect();
    let mut step = 0usize;
    for epoch in 0..settings.epochs {
        let t0 = Instant::now();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for batch in order.chunks(settings.batch) {
            let mut px = Vec::with_capacity(batch.len() * IMAGE_PIXELS);
            let mut onehot = vec![0f32; batch.len() * NUM_CLASSES];
            for (r, &i) in batch.iter().enumerate() {
                px.extend_from_slice(&images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]);
                onehot[r * NUM_CLASSES + usize::from(labels[i]).min(NUM_CLASSES - 1)] = 1.0;
            }
            let y =
                Tensor::<2>::from_data(TensorData::new(onehot, [batch.len(), NUM_CLASSES]), &ad);
            let (_, logits) = model.forward(images_tensor(&px, &ad));
            let loss = (log_softmax(logits, 1) * y).sum_dim(1).mean().neg();
            let value = f64::from(to_f32(loss.clone().detach())[0]);
            anyhow::ensure!(
                value.is_finite(),
                "classifier training diverged (loss {value} at epoch {epoch})"
            );
            loss_sum += value;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let progress_frac = step as f64 / total_steps.max(1) as f64;
            let lr = settings.lr
                * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress_frac).cos()));
            model = opt.step(lr, model, grads);
            step += 1;
            bar.set_message(format!("epoch {} loss {value:.4}", epoch + 1));
            bar.inc(1);
        }
        log.epoch_seconds.push(t0.elapsed().as_secs_f64());
        log.epoch_loss.push(loss_sum / steps_per_epoch as f64);
    }
    bar.finish_and_clear();
    // Hand the weights to a classifier on the plain device through the record (the same path the
    // cache takes, so a freshly trained and a cached classifier are bit-identical).
    let bytes = record_bytes(&model)?;
    let plain = classifier_from_bytes(&bytes, device)?;
    Ok((plain, log))
}

/// The classifier's weights as a burnpack record.
pub fn record_bytes(classifier: &Classifier) -> anyhow::Result<Vec<u8>> {
    let b = classifier
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("cannot serialise the classifier: {e}"))?;
    Ok(b.to_vec())
}

/// A classifier on `device` from a burnpack record made by [`record_bytes`]. A record that does
/// not parse or does not fit the architecture is an error (never a panic).
pub fn classifier_from_bytes(bytes: &[u8], device: &Device) -> anyhow::Result<Classifier> {
    let fresh = Classifier::new(device);
    let owned = bytes.to_vec();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let rec = ModuleRecord::from_bytes(Bytes::from_bytes_vec(owned))
            .map_err(|e| anyhow::anyhow!("classifier record unreadable: {e}"))?;
        fresh
            .try_load_record(rec)
            .map_err(|e| anyhow::anyhow!("classifier record does not fit the architecture: {e}"))
    }));
    match res {
        Ok(r) => r,
        Err(_) => anyhow::bail!("classifier record unreadable (the reader panicked)"),
    }
}

/// The metadata file next to the cached weights (`classifier.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierMeta {
    /// [`CACHE_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// [`ARCHITECTURE`] of the writer.
    pub architecture: String,
    /// How it was trained.
    pub settings: ClassifierSettings,
    /// Accuracy on the MNIST test split (or its first `settings.test_images` images).
    pub test_accuracy: f64,
    /// Test images the accuracy was measured on.
    pub test_count: usize,
    /// Training images used.
    pub train_count: usize,
    /// Seconds the training took.
    pub train_seconds: f64,
    /// Lowercase hex SHA-256 of the weights file.
    pub weights_sha256: String,
    /// Size of the weights file in bytes.
    pub weights_bytes: u64,
}

/// Why a cache could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// No cache at this path (weights or metadata missing).
    #[error("no classifier cache at {0}")]
    Missing(PathBuf),
    /// A cache file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The cache is unusable: its metadata does not parse, its version or architecture is not
    /// this program's, its checksum does not match, or the record does not load.
    #[error("classifier cache {path} is corrupt or incompatible: {reason}")]
    Corrupt {
        /// The weights file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The cache is valid but was trained with other settings than those requested.
    #[error("classifier cache {0} was trained with other settings")]
    Stale(PathBuf),
}

/// The cache's weights file: `$TINYGAN_CACHE/classifier.bpk`, else
/// `$XDG_CACHE_HOME/tinygan/classifier.bpk`, else `$HOME/.cache/tinygan/classifier.bpk`, else
/// `.cache/tinygan/classifier.bpk` relative to the working directory.
pub fn default_cache_path() -> PathBuf {
    let nonempty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = nonempty(CACHE_ENV) {
        return dir.join(CACHE_FILE);
    }
    let base = nonempty("XDG_CACHE_HOME")
        .or_else(|| nonempty("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("tinygan").join(CACHE_FILE)
}

/// The metadata file belonging to the weights file `cache` (same name, extension `.json`).
pub fn meta_path(cache: &Path) -> PathBuf {
    cache.with_extension("json")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `classifier` and its metadata to the cache at `cache` (weights first, then the metadata
/// that vouches for them; both atomically, creating the directory). `meta`'s checksum and size
/// fields are filled in here. Returns the metadata written.
pub fn save_classifier(
    cache: &Path,
    classifier: &Classifier,
    mut meta: ClassifierMeta,
) -> anyhow::Result<ClassifierMeta> {
    let bytes = record_bytes(classifier)?;
    meta.format_version = CACHE_FORMAT_VERSION;
    meta.architecture = ARCHITECTURE.to_string();
    meta.weights_sha256 = sha256_hex(&bytes);
    meta.weights_bytes = bytes.len() as u64;
    if let Some(dir) = cache.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create cache directory {}", dir.display()))?;
    }
    let json = serde_json::to_vec_pretty(&meta)?;
    export::atomic::write_atomic(cache, &bytes)
        .with_context(|| format!("cannot write {}", cache.display()))?;
    let mp = meta_path(cache);
    export::atomic::write_atomic(&mp, &json)
        .with_context(|| format!("cannot write {}", mp.display()))?;
    Ok(meta)
}

/// Loads the cached classifier at `cache` onto `device`, checking the metadata (format version,
/// architecture, accuracy range, size and SHA-256 of the weights) before parsing the record. With
/// `expected` set, a cache trained with other settings is [`CacheError::Stale`].
pub fn load_cached_classifier(
    cache: &Path,
    device: &Device,
    expected: Option<&ClassifierSettings>,
) -> Result<(Classifier, ClassifierMeta), CacheError> {
    let mp = meta_path(cache);
    if !cache.exists() || !mp.exists() {
        return Err(CacheError::Missing(cache.to_path_buf()));
    }
    let corrupt = |reason: String| CacheError::Corrupt {
        path: cache.to_path_buf(),
        reason,
    };
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| CacheError::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    let meta_bytes = read(&mp)?;
    let meta: ClassifierMeta = serde_json::from_slice(&meta_bytes)
        .map_err(|e| corrupt(format!("{}: {e}", mp.display())))?;
    if meta.format_version != CACHE_FORMAT_VERSION {
        return Err(corrupt(format!(
            "format version {} (this tinygan reads {CACHE_FORMAT_VERSION})",
            meta.format_version
        )));
    }
    if meta.architecture != ARCHITECTURE {
        return Err(corrupt(format!(
            "architecture {:?}, expected {ARCHITECTURE:?}",
            meta.architecture
        )));
    }
    if !(0.0..=1.0).contains(&meta.test_accuracy) {
        return Err(corrupt(format!(
            "test accuracy {} is not in [0, 1]",
            meta.test_accuracy
        )));
    }
    let bytes = read(cache)?;
    if bytes.len() as u64 != meta.weights_bytes {
        return Err(corrupt(format!(
            "weights file has {} bytes, metadata says {}",
            bytes.len(),
            meta.weights_bytes
        )));
    }
    let sha = sha256_hex(&bytes);
    if sha != meta.weights_sha256 {
        return Err(corrupt(format!(
            "SHA-256 {sha} does not match the metadata's {}",
            meta.weights_sha256
        )));
    }
    let classifier =
        classifier_from_bytes(&bytes, device).map_err(|e| corrupt(format!("{e:#}")))?;
    if expected.is_some_and(|s| *s != meta.settings) {
        return Err(CacheError::Stale(cache.to_path_buf()));
    }
    Ok((classifier, meta))
}

/// [`load_or_train_classifier_with`] with the default settings and a progress bar: the cached
/// classifier at `cache`, or (when missing, unusable, or `force`) one trained on the MNIST in
/// `data_dir` (downloaded if missing) and cached. Returns it and its test accuracy.
pub fn load_or_train_classifier(
    data_dir: &Path,
    cache: &Path,
    device: &Device,
    force: bool,
) -> anyhow::Result<(Classifier, f64)> {
    let (c, meta) = load_or_train_classifier_with(
        data_dir,
        cache,
        device,
        force,
        &ClassifierSettings::default(),
        true,
    )?;
    Ok((c, meta.test_accuracy))
}

/// The cached classifier at `cache` if it is valid and was trained with `settings`; otherwise
/// (or with `force`) trains one with `settings` on MNIST from `data_dir`, measures its test
/// accuracy, writes the cache and returns it. An unusable cache is reported on stderr and
/// replaced. `progress` shows training progress on stderr.
pub fn load_or_train_classifier_with(
    data_dir: &Path,
    cache: &Path,
    device: &Device,
    force: bool,
    settings: &ClassifierSettings,
    progress: bool,
) -> anyhow::Result<(Classifier, ClassifierMeta)> {
    if !force {
        match load_cached_classifier(cache, device, Some(settings)) {
            Ok(v) => return Ok(v),
            Err(CacheError::Missing(_)) => {
                eprintln!("no cached classifier at {}: training one", cache.display())
            }
            Err(e) => eprintln!("warning: {e}; retraining it"),
        }
    }
    data::ensure_mnist(data_dir)?;
    let train = data::load_mnist(data_dir, Split::Train)?;
    let test = data::load_mnist(data_dir, Split::Test)?;
    let nt = settings
        .train_images
        .map_or(train.len, |k| k.min(train.len));
    let ne = settings.test_images.map_or(test.len, |k| k.min(test.len));
    let t0 = Instant::now();
    let (classifier, log) = train_classifier(
        &train.images[..nt * IMAGE_PIXELS],
        &train.labels[..nt],
        settings,
        device,
        progress,
    )?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let acc = accuracy(
        &classifier,
        &test.images[..ne * IMAGE_PIXELS],
        &test.labels[..ne],
        device,
    );
    if progress {
        let per_epoch: Vec<String> = log
            .epoch_seconds
            .iter()
            .map(|s| format!("{s:.1}s"))
            .collect();
        eprintln!(
            "classifier: trained on {nt} images in {train_seconds:.1}s (epochs {}), test accuracy {:.2}% on {ne} images",
            per_epoch.join(", "),
            acc * 100.0
        );
    }
    let meta = ClassifierMeta {
        format_version: CACHE_FORMAT_VERSION,
        architecture: ARCHITECTURE.to_string(),
        settings: settings.clone(),
        test_accuracy: acc,
        test_count: ne,
        train_count: nt,
        train_seconds,
        weights_sha256: String::new(),
        weights_bytes: 0,
    };
    let meta = save_classifier(cache, &classifier, meta)?;
    Ok((classifier, meta))
}

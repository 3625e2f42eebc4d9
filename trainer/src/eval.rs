//! `tinygan eval`: how good are generated digits?
//!
//! A small CNN digit classifier ([`classifier`], trained once on MNIST and cached) supplies a
//! 128-dimensional feature space. For a set of generated digits — drawn from a run's generator, or
//! read from an IDX3 file (what `tinygan sample` and the microcontroller runtime write) — this
//! module reports:
//!
//! * **FCD**, the Fréchet distance ([`frechet`]) between Gaussians fitted to the samples' features
//!   and to the 10 000 MNIST test digits' features (FID with a digit classifier instead of
//!   Inception);
//! * the **floor**: the same distance for as many *real training* digits, i.e. what a perfect
//!   generator would score at this sample size (the estimator is biased upwards for finite `n`),
//!   and the ratio FCD / floor;
//! * the histogram of predicted classes and its entropy (nats; `ln 10 ≈ 2.303` is perfectly
//!   balanced, lower means missing or over-represented digits — mode collapse);
//! * the share of samples the classifier is more than 90% sure about (legibility);
//! * for a conditional run, the share of samples classified as the digit they were asked for.

pub mod classifier;
pub mod frechet;

use std::fmt;
use std::path::Path;

use anyhow::{Context, bail};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::index;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

pub use classifier::{
    Classifier, ClassifierMeta, ClassifierSettings, FEATURE_DIM, NUM_CLASSES, default_cache_path,
    features_and_probs, load_or_train_classifier,
};
pub use frechet::{GaussianStats, class_entropy, frechet_distance, frechet_distance_stats};

use crate::checkpoint::{LoadedGenerator, Weights};
use crate::data::{self, IMAGE_PIXELS, Split};
use crate::model::Generator;
use crate::rundir::RunDir;
use crate::sample::{LabelError, cycling_labels, draw};

/// A sample counts as "confident" when its top class probability exceeds this.
pub const CONFIDENCE_THRESHOLD: f32 = 0.9;

/// Class-level figures of a set of digits, from the classifier's probabilities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassFigures {
    /// Number of samples of each predicted class.
    pub histogram: [usize; NUM_CLASSES],
    /// Entropy of `histogram` in nats (max `ln 10`).
    pub entropy: f64,
    /// Share of samples whose top class probability is > [`CONFIDENCE_THRESHOLD`].
    pub confident_share: f64,
}

impl ClassFigures {
    /// Figures of class probabilities `probs` (`n × 10`).
    pub fn from_probs(probs: &[f32]) -> Self {
        let mut histogram = [0usize; NUM_CLASSES];
        let mut confident = 0usize;
        let mut n = 0usize;
        for row in probs.chunks_exact(NUM_CLASSES) {
            let (best, p) =
                row.iter()
                    .copied()
                    .enumerate()
                    .fold(
                        (0, f32::NEG_INFINITY),
                        |acc, (i, p)| if p > acc.1 { (i, p) } else { acc },
                    );
            histogram[best] += 1;
            if p > CONFIDENCE_THRESHOLD {
                confident += 1;
            }
            n += 1;
        }
        ClassFigures {
            histogram,
            entropy: class_entropy(&histogram),
            confident_share: if n == 0 {
                0.0
            } else {
                confident as f64 / n as f64
            },
        }
    }
}

/// What `tinygan eval` measures (see the module documentation). Its `Display` is the report the
/// command prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// What was evaluated (run directory or IDX file).
    pub source: String,
    /// Number of samples evaluated (and of real training digits in the floor).
    pub n: usize,
    /// Fréchet classifier distance of the samples to the MNIST test set.
    pub fcd: f64,
    /// The same distance for `n` real training digits: the floor.
    pub floor_fcd: f64,
    /// Entropy (nats) of the samples' predicted-class histogram; max `ln 10`.
    pub entropy: f64,
    /// Predicted-class histogram of the samples.
    pub histogram: [usize; NUM_CLASSES],
    /// Share of samples classified with > 90% confidence.
    pub confident_share: f64,
    /// The class figures of the `n` real training digits, for comparison.
    pub floor_figures: ClassFigures,
    /// Conditional runs: share of samples classified as the class they were generated for.
    pub label_agreement: Option<f64>,
    /// The classifier's accuracy on the MNIST test set.
    pub classifier_accuracy: f64,
}

impl EvalReport {
    /// `fcd / floor_fcd` (infinite when the floor is 0).
    pub fn ratio(&self) -> f64 {
        if self.floor_fcd > 0.0 {
            self.fcd / self.floor_fcd
        } else {
            f64::INFINITY
        }
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ln10 = (NUM_CLASSES as f64).ln();
        writeln!(f, "eval of {} samples from {}", self.n, self.source)?;
        writeln!(
            f,
            "classifier test accuracy  {:.2}%",
            self.classifier_accuracy * 100.0
        )?;
        writeln!(
            f,
            "FCD                       {:.4}   (vs the MNIST test set, {FEATURE_DIM}-d classifier features)",
            self.fcd
        )?;
        writeln!(
            f,
            "FCD floor                 {:.4}   ({} real training digits vs the test set)",
            self.floor_fcd, self.n
        )?;
        writeln!(f, "FCD / floor               {:.2}", self.ratio())?;
        writeln!(
            f,
            "class entropy             {:.4} nats (max ln 10 = {ln10:.4}; real digits {:.4})",
            self.entropy, self.floor_figures.entropy
        )?;
        writeln!(
            f,
            "confident (> 90%)         {:.2}% of samples (real digits {:.2}%)",
            self.confident_share * 100.0,
            self.floor_figures.confident_share * 100.0
        )?;
        if let Some(a) = self.label_agreement {
            writeln!(f, "classified as conditioned {:.2}%", a * 100.0)?;
        }
        let total = self.n.max(1) as f64;
        let hist: Vec<String> = self
            .histogram
            .iter()
            .enumerate()
            .map(|(d, &c)| format!("{d}:{:.1}%", c as f64 * 100.0 / total))
            .collect();
        write!(f, "class histogram           {}", hist.join(" "))
    }
}

/// Digits to evaluate, as `u8` pixels (`n × 784`).
#[derive(Clone, Debug)]
pub struct Samples {
    /// Pixels, `n × 784`, 0 = background.
    pub images: Vec<u8>,
    /// Number of images.
    pub n: usize,
    /// The class each was generated for (conditional runs).
    pub labels: Option<Vec<u8>>,
    /// Where they came from, for the report.
    pub source: String,
}

/// Reads up to `n` images from an IDX3 file (the first `n`; all of them if it holds fewer). A
/// malformed file (wrong magic, not 28×28, size not matching the header) or an empty one is an
/// error naming the file.
pub fn read_idx_samples(path: &Path, n: usize) -> anyhow::Result<Samples> {
    let (mut images, count) = data::read_idx_images(path)
        .with_context(|| format!("--idx {} is not a usable IDX3 image file", path.display()))?;
    if count == 0 {
        bail!("--idx {} holds no images", path.display());
    }
    let n = n.min(count);
    images.truncate(n * IMAGE_PIXELS);
    Ok(Samples {
        images,
        n,
        labels: None,
        source: format!("{} ({count} images in the file)", path.display()),
    })
}

/// Draws `n` digits from the generator of the run in `run_dir` with latents from `seed` (the same
/// draws and the same `[-1, 1] → u8` rounding as `tinygan sample --seed`). A conditional run
/// generates the classes `0, 1, …, 9, 0, …` in turn.
pub fn sample_run(
    run_dir: &Path,
    n: usize,
    seed: u64,
    weights: Weights,
    device: &Device,
) -> anyhow::Result<Samples> {
    let run = RunDir::new(run_dir);
    let ck = run.checkpoint();
    if !ck.exists() {
        bail!(
            "--run {}: no checkpoint ({} is missing)",
            run_dir.display(),
            ck.display()
        );
    }
    let LoadedGenerator {
        generator,
        config: cfg,
        iteration,
        averaged,
    } = run.load_generator(device, weights)?;
    if !cfg.preset.is_image() {
        bail!(
            "--run {} is a {} run: it does not make digits",
            run_dir.display(),
            cfg.preset.name()
        );
    }
    let labels = cfg.conditional.then(|| cycling_labels(n, NUM_CLASSES));
    let images = generate_digits(&generator, n, seed, labels.as_deref(), device)?;
    Ok(Samples {
        images,
        n,
        labels,
        source: format!(
            "{} (iteration {iteration}, {} weights, seed {seed})",
            run_dir.display(),
            if averaged { "averaged" } else { "trained" }
        ),
    })
}

/// `n` digits as `u8` pixels from `generator` (on `device`), latents drawn from `seed` (see
/// [`draw`]); `labels` (`n` classes) for a conditional generator.
pub fn generate_digits(
    generator: &Generator,
    n: usize,
    seed: u64,
    labels: Option<&[u8]>,
    device: &Device,
) -> Result<Vec<u8>, LabelError> {
    let values = draw(generator, n, seed, labels, device)?;
    Ok(values.into_iter().map(data::signed_to_pixel).collect())
}

/// `n` distinct training images chosen with `seed` (all of them, in order, if `n ≥ len`).
pub fn random_subset(images: &[u8], n: usize, seed: u64) -> Vec<u8> {
    let len = images.len() / IMAGE_PIXELS;
    if n >= len {
        return images.to_vec();
    }
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x666c_6f6f_7200);
    let mut idx = index::sample(&mut rng, len, n).into_vec();
    idx.sort_unstable();
    let mut out = Vec::with_capacity(n * IMAGE_PIXELS);
    for i in idx {
        out.extend_from_slice(&images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]);
    }
    out
}

/// A classifier and the Gaussian of the MNIST test set's features: everything needed to score
/// digits repeatedly (e.g. every N training iterations through [`quick_fcd`]).
pub struct FcdProbe {
    /// The classifier.
    pub classifier: Classifier,
    /// Its test accuracy.
    pub classifier_accuracy: f64,
    /// Feature statistics of the reference set (the MNIST test split).
    pub reference: GaussianStats,
    /// The device the classifier lives on (no autodiff).
    pub device: Device,
}

impl FcdProbe {
    /// A probe from a classifier on `device` and reference images (`u8`, `k × 784`, `k ≥ 2`).
    pub fn from_parts(
        classifier: Classifier,
        classifier_accuracy: f64,
        reference_images: &[u8],
        device: &Device,
    ) -> anyhow::Result<Self> {
        let k = reference_images.len() / IMAGE_PIXELS;
        anyhow::ensure!(
            k >= 2 && reference_images.len() == k * IMAGE_PIXELS,
            "the reference set must be at least 2 whole 28x28 images"
        );
        let (feats, _) = features_and_probs(&classifier, reference_images, k, device);
        Ok(FcdProbe {
            classifier,
            classifier_accuracy,
            reference: GaussianStats::from_features(&feats, FEATURE_DIM),
            device: device.clone(),
        })
    }

    /// The cached classifier (trained and cached first if needed, or if `force`) and the MNIST
    /// test set from `data_dir` as reference.
    pub fn load(
        data_dir: &Path,
        cache: &Path,
        device: &Device,
        force: bool,
    ) -> anyhow::Result<Self> {
        let (classifier, acc) = load_or_train_classifier(data_dir, cache, device, force)?;
        let test = data::load_mnist(data_dir, Split::Test)?;
        Self::from_parts(classifier, acc, &test.images, device)
    }

    /// Features and class probabilities of `n` images (`images.len() == n × 784`).
    pub fn features(&self, images: &[u8], n: usize) -> (Vec<f32>, Vec<f32>) {
        features_and_probs(&self.classifier, images, n, &self.device)
    }

    /// FCD of `n ≥ 2` images against the reference set.
    pub fn fcd(&self, images: &[u8], n: usize) -> anyhow::Result<f64> {
        anyhow::ensure!(n >= 2, "FCD needs at least 2 samples, got {n}");
        anyhow::ensure!(
            images.len() == n * IMAGE_PIXELS,
            "{} bytes are not {n} images of 28x28",
            images.len()
        );
        let (feats, _) = self.features(images, n);
        Ok(frechet_distance_stats(
            &GaussianStats::from_features(&feats, FEATURE_DIM),
            &self.reference,
        ))
    }

    /// The full report for `samples`, with the floor computed from `floor_images` (`samples.n`
    /// real training digits).
    pub fn report(&self, samples: &Samples, floor_images: &[u8]) -> anyhow::Result<EvalReport> {
        let n = samples.n;
        anyhow::ensure!(n >= 2, "FCD needs at least 2 samples, got {n}");
        anyhow::ensure!(
            floor_images.len() == n * IMAGE_PIXELS,
            "the floor needs {n} real digits, got {} bytes",
            floor_images.len()
        );
        let (feats, probs) = self.features(&samples.images, n);
        let fcd = frechet_distance_stats(
            &GaussianStats::from_features(&feats, FEATURE_DIM),
            &self.reference,
        );
        let figures = ClassFigures::from_probs(&probs);
        let label_agreement = samples.labels.as_ref().map(|labels| {
            let pred = classifier::argmax_rows(&probs);
            pred.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / n as f64
        });
        let (ffeats, fprobs) = self.features(floor_images, n);
        let floor_fcd = frechet_distance_stats(
            &GaussianStats::from_features(&ffeats, FEATURE_DIM),
            &self.reference,
        );
        Ok(EvalReport {
            source: samples.source.clone(),
            n,
            fcd,
            floor_fcd,
            entropy: figures.entropy,
            histogram: figures.histogram,
            confident_share: figures.confident_share,
            floor_figures: ClassFigures::from_probs(&fprobs),
            label_agreement,
            classifier_accuracy: self.classifier_accuracy,
        })
    }
}

/// FCD of `n` digits drawn from `generator` (living on `gen_device`, autodiff or not) with latents from
/// `seed`, against the probe's reference set: a cheap progress figure for the training loop
/// (about 1–2 s per 1000 samples on a 2-core CPU). For a conditional generator the classes cycle
/// through 0–9. Small `n` inflates the value (compare figures at equal `n` only).
pub fn quick_fcd(
    probe: &FcdProbe,
    generator: &Generator,
    gen_device: &Device,
    n: usize,
    seed: u64,
) -> anyhow::Result<f64> {
    let labels = (generator.num_classes() > 0).then(|| cycling_labels(n, NUM_CLASSES));
    let images = generate_digits(generator, n, seed, labels.as_deref(), gen_device)?;
    probe.fcd(&images, n)
}

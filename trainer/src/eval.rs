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
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::prelude::*;
use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

pub use classifier::{
    Classifier, ClassifierMeta, ClassifierSettings, FEATURE_DIM, NUM_CLASSES, default_cache_path,
    features_and_probs, load_or_train_classifier,
};
pub use frechet::{GaussianStats, class_entropy, frechet_distance, frechet_distance_stats};

use crate::checkpoint;
use crate::data::{self, IMAGE_PIXELS, Split};
use crate::device::{self, DeviceChoice};
use crate::model::Generator;
use crate::train::{LoadedGenerator, Trainer, Weights, generate};

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

/// `tinygan eval`: scores generated digits against MNIST with a cached digit classifier.
#[derive(clap::Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("input").args(["run", "idx"]).multiple(false)))]
pub struct EvalArgs {
    /// Run directory whose generator draws the samples.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// IDX3 ubyte file of 28×28 digits (e.g. from `tinygan sample` or the runtime), gzipped or not.
    #[arg(long)]
    pub idx: Option<PathBuf>,
    /// Number of samples (an IDX file with fewer images is used whole; the floor uses as many real
    /// training digits).
    #[arg(long, default_value_t = 10_000)]
    pub n: usize,
    /// MNIST directory [default: $TINYGAN_DATA, else ./data/mnist]; downloaded if missing.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Compute device: auto = a hardware GPU through wgpu if present, else the CPU backend.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Retrain the classifier (and rewrite its cache) even if a valid cache exists. Without
    /// --run/--idx only trains and prints the accuracy and the floor.
    #[arg(long)]
    pub train_classifier: bool,
    /// Seed of the generator's noise and of the choice of real training digits for the floor.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Classifier cache file [default: $TINYGAN_CACHE/classifier.bpk, else
    /// ~/.cache/tinygan/classifier.bpk]; its metadata is the same name with `.json`.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Which generator weights of the run to evaluate (`--run`).
    #[arg(long, value_enum, default_value_t = Weights::Averaged)]
    pub weights: Weights,
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
    let ck = checkpoint::path_in(run_dir);
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
    } = Trainer::load_generator(&ck, device, weights)?;
    if !cfg.preset.is_image() {
        bail!(
            "--run {} is a {} run: it does not make digits",
            run_dir.display(),
            cfg.preset.name()
        );
    }
    let labels = cfg
        .conditional
        .then(|| (0..n).map(|i| (i % NUM_CLASSES) as u8).collect::<Vec<_>>());
    let images = generate_digits(&generator, n, seed, labels.as_deref(), device);
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

/// `n` digits as `u8` pixels from `generator` (on `device`), latents drawn from `seed`, in batches
/// of 256; `labels` (`n` classes) for a conditional generator.
pub fn generate_digits(
    generator: &Generator,
    n: usize,
    seed: u64,
    labels: Option<&[u8]>,
    device: &Device,
) -> Vec<u8> {
    let zd = generator.z_dim;
    let mut rng = Pcg64::seed_from_u64(seed);
    let z: Vec<f32> = (0..n * zd)
        .map(|_| rng.sample(rand_distr::StandardNormal))
        .collect();
    let mut images = Vec::with_capacity(n * IMAGE_PIXELS);
    for lo in (0..n).step_by(256) {
        let hi = (lo + 256).min(n);
        let l = labels.map(|l| &l[lo..hi]);
        let out = generate(generator, &z[lo * zd..hi * zd], l, device);
        images.extend(out.iter().map(|&v| data::signed_to_pixel(v)));
    }
    images
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
    let labels: Option<Vec<u8>> =
        (generator.num_classes > 0).then(|| (0..n).map(|i| (i % NUM_CLASSES) as u8).collect());
    let images = generate_digits(generator, n, seed, labels.as_deref(), gen_device);
    probe.fcd(&images, n)
}

/// Runs `tinygan eval`.
pub fn eval_command(args: EvalArgs) -> anyhow::Result<()> {
    if args.run.is_some() && args.idx.is_some() {
        bail!("give only one of --run DIR and --idx FILE");
    }
    if args.run.is_none() && args.idx.is_none() && !args.train_classifier {
        bail!("give --run DIR or --idx FILE (or --train-classifier to only train the classifier)");
    }
    if args.n < 2 {
        bail!("--n must be at least 2 (a covariance needs two samples)");
    }
    let chosen = device::choose(args.device)?;
    let dev = &chosen.device;
    let data_dir = data::resolve_data_dir(args.data.as_deref());
    let cache = args.cache.clone().unwrap_or_else(default_cache_path);

    // The input first: a bad path or file fails before minutes of classifier training.
    let samples = match (&args.run, &args.idx) {
        (Some(r), _) => Some(sample_run(r, args.n, args.seed, args.weights, dev)?),
        (_, Some(p)) => Some(read_idx_samples(p, args.n)?),
        _ => None,
    };
    let n = samples.as_ref().map_or(args.n, |s| s.n);
    data::ensure_mnist(&data_dir)?;
    let train = data::load_mnist(&data_dir, Split::Train)?;
    if n > train.len {
        bail!(
            "--n {n} exceeds the {} training digits the floor is drawn from",
            train.len
        );
    }
    if n < 1000 {
        eprintln!(
            "note: with only {n} samples the FCD is noisy and biased upwards; compare only with the floor printed here"
        );
    }
    eprintln!(
        "eval on {}; classifier cache {}",
        chosen.description,
        cache.display()
    );
    let probe = FcdProbe::load(&data_dir, &cache, dev, args.train_classifier)?;
    let floor_images = random_subset(&train.images, n, args.seed);
    drop(train);

    let Some(samples) = samples else {
        let real = Samples {
            images: floor_images,
            n,
            labels: None,
            source: "real MNIST training digits".into(),
        };
        let (feats, probs) = probe.features(&real.images, n);
        let floor = frechet_distance_stats(
            &GaussianStats::from_features(&feats, FEATURE_DIM),
            &probe.reference,
        );
        let fig = ClassFigures::from_probs(&probs);
        println!(
            "classifier test accuracy  {:.2}%",
            probe.classifier_accuracy * 100.0
        );
        println!(
            "FCD floor                 {floor:.4}   ({n} real training digits vs the test set)"
        );
        println!(
            "class entropy             {:.4} nats; confident (> 90%) {:.2}%",
            fig.entropy,
            fig.confident_share * 100.0
        );
        return Ok(());
    };
    let report = probe.report(&samples, &floor_images)?;
    println!("{report}");
    if let Some(p) = &args.json {
        let s = serde_json::to_string_pretty(&report)?;
        std::fs::write(p, s).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

//! `tinygan eval`: its arguments and the command, on top of [`crate::eval`].

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::values::{DeviceArg, WeightsArg};
use crate::data::{self, Split};
use crate::device;
use crate::eval::{
    ClassFigures, FEATURE_DIM, FcdProbe, GaussianStats, Samples, default_cache_path,
    frechet_distance_stats, random_subset, read_idx_samples, sample_run,
};

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
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
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
    #[arg(long, value_enum, default_value_t = WeightsArg::Averaged)]
    pub weights: WeightsArg,
}

/// The most samples one `eval` scores: as many as MNIST has training digits (the floor compares
/// with as many real ones).
pub const MAX_EVAL_SAMPLES: usize = 60_000;

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
    if args.n > MAX_EVAL_SAMPLES {
        bail!(
            "--n {} is more than the {MAX_EVAL_SAMPLES} MNIST training digits the floor is drawn \
             from",
            args.n
        );
    }
    let chosen = device::choose(args.device.into())?;
    let dev = &chosen.device;
    let data_dir = data::resolve_data_dir(args.data.as_deref());
    let cache = args.cache.clone().unwrap_or_else(default_cache_path);

    // The input first: a bad path or file fails before minutes of classifier training.
    let samples = match (&args.run, &args.idx) {
        (Some(r), _) => Some(sample_run(r, args.n, args.seed, args.weights.into(), dev)?),
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
        export::atomic::write_atomic(p, s.as_bytes())
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

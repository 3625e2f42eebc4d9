//! `tinygan bench`: training speed on synthetic digits.

use std::time::Instant;

use anyhow::bail;
use clap::Args;
use rand::{Rng, SeedableRng};

use super::{DeviceArgs, ModelArgs};
use crate::config::{DEFAULT_DATASET, dataset_for};
use crate::data::{Dataset, IMAGE_PIXELS, TrainData};
use crate::device;
use crate::train::Trainer;

/// `tinygan bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub(super) model: ModelArgs,
    #[command(flatten)]
    device: DeviceArgs,
    /// Timed generator iterations (after 2 warm-up iterations).
    #[arg(long, default_value_t = 20)]
    iters: u64,
}

pub(super) fn bench(a: BenchArgs) -> anyhow::Result<()> {
    if a.iters == 0 {
        bail!("--iters must be at least 1");
    }
    let chosen = device::choose(a.device.device.into())?;
    let dataset = dataset_for(a.model.preset(), DEFAULT_DATASET);
    let cfg = a.model.config(dataset);
    // Timing does not depend on pixel values: synthetic digits keep the benchmark free of files.
    let data = match dataset {
        Dataset::Gaussians8 => TrainData::Gaussians8,
        Dataset::Mnist => {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
            let n = 1024;
            TrainData::Images {
                images: (0..n * IMAGE_PIXELS).map(|_| rng.random()).collect(),
                labels: (0..n).map(|_| rng.random_range(0..10)).collect(),
            }
        }
    };
    println!(
        "bench: preset {} loss {} batch {} n_critic {} on {}",
        cfg.preset.name(),
        cfg.loss.name(),
        cfg.batch,
        cfg.n_critic,
        chosen.description
    );
    let mut t = Trainer::new(cfg, &chosen.device, data)?;
    for _ in 0..2 {
        t.step()?;
    }
    let start = Instant::now();
    for _ in 0..a.iters {
        t.step()?;
    }
    let dt = start.elapsed().as_secs_f64();
    println!("seconds {dt:.3} for {} generator iterations", a.iters);
    println!("generator_iters_per_s {:.3}", a.iters as f64 / dt);
    Ok(())
}

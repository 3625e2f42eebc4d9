//! `tinygan train`.

use std::path::PathBuf;

use clap::Args;

use super::values::DatasetArg;
use super::{DeviceArgs, ModelArgs, export_run};
use crate::checkpoint::Weights;
use crate::config::{
    DEFAULT_CHECKPOINT_EVERY, DEFAULT_DATASET, DEFAULT_ITERS, DEFAULT_SAMPLE_EVERY, dataset_for,
};
use crate::data::{self, Dataset, TrainData};
use crate::device::{self, Chosen};
use crate::eval::{self, FcdProbe};
use crate::run::{self, EvalHook, RunOptions};
use crate::rundir::RunDir;

/// `tinygan train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    device: DeviceArgs,
    /// Training data.
    #[arg(long, value_enum, default_value_t = DatasetArg::from(DEFAULT_DATASET))]
    dataset: DatasetArg,
    /// MNIST directory [default: $TINYGAN_DATA, else ./data/mnist]; downloaded if missing.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Generator iterations to train up to [default: 5000; with --resume, the run's own].
    #[arg(long)]
    iters: Option<u64>,
    /// Run directory [default: runs/<preset>-<loss>].
    #[arg(long)]
    run: Option<PathBuf>,
    /// Continue the run in --run from its checkpoint (its saved config is used; --iters N moves its
    /// end to iteration N, which must lie beyond the checkpoint; --lr, --lr-g, --lr-d and --ema
    /// change the learning rates and the averaging from here on, e.g. to cool a run down).
    #[arg(long)]
    resume: bool,
    /// Sample grid every N iterations.
    #[arg(long, default_value_t = DEFAULT_SAMPLE_EVERY)]
    sample_every: u64,
    /// Checkpoint every N iterations.
    #[arg(long, default_value_t = DEFAULT_CHECKPOINT_EVERY)]
    checkpoint_every: u64,
    /// Do not export the generator at the end.
    #[arg(long)]
    no_export: bool,
    /// Measure sample quality (FCD, as `tinygan eval`) every N iterations into metrics.csv and
    /// losses.png; 0 = off. The first use trains and caches the digit classifier (a few minutes).
    #[arg(long, default_value_t = 0)]
    eval_every: u64,
    /// Also measure FCD each time training has used this many more CPU seconds.
    #[arg(long, value_name = "SECONDS")]
    eval_every_cpu: Option<f64>,
    /// Stop training (checkpoint and outputs, as at the last iteration) once the training steps
    /// have used this much process CPU time, all threads and earlier sessions counted.
    #[arg(long, value_name = "SECONDS")]
    cpu_budget: Option<f64>,
    /// Stop training (as --cpu-budget) once it has run this many wall-clock seconds, earlier
    /// sessions counted.
    #[arg(long, value_name = "SECONDS")]
    time_budget: Option<f64>,
    /// Stop training (as finished) at the first FCD measurement (--eval-every, --eval-every-cpu)
    /// at or below this level.
    #[arg(long, value_name = "FCD")]
    until_fcd: Option<f64>,
    /// Digits per FCD measurement during training (values are only comparable at equal N).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    eval_samples: u64,
    /// Classifier cache for --eval-every [default: as `tinygan eval`].
    #[arg(long)]
    cache: Option<PathBuf>,
}

impl TrainArgs {
    /// Checks the flags that need no file: budgets and FCD targets.
    fn validate(&self) -> anyhow::Result<()> {
        if let Some(b) = self.cpu_budget {
            anyhow::ensure!(b > 0.0 && b.is_finite(), "--cpu-budget must be > 0 seconds");
        }
        if let Some(b) = self.time_budget {
            anyhow::ensure!(
                b > 0.0 && b.is_finite(),
                "--time-budget must be > 0 seconds"
            );
        }
        if let Some(e) = self.eval_every_cpu {
            anyhow::ensure!(
                e > 0.0 && e.is_finite(),
                "--eval-every-cpu must be > 0 seconds"
            );
        }
        anyhow::ensure!(
            self.until_fcd.is_none() || self.eval_every > 0 || self.eval_every_cpu.is_some(),
            "--until-fcd needs FCD measurements: add --eval-every N or --eval-every-cpu SECONDS"
        );
        Ok(())
    }

    /// The FCD measurements asked for (loading the classifier, training it first if needed).
    fn eval_hook(&self, dataset: Dataset, chosen: &Chosen) -> anyhow::Result<Option<EvalHook>> {
        if self.eval_every == 0 && self.eval_every_cpu.is_none() {
            return Ok(None);
        }
        if dataset != Dataset::Mnist {
            anyhow::bail!("--eval-every measures digits; it needs --dataset mnist");
        }
        let data_dir = data::resolve_data_dir(self.data.as_deref());
        let cache = self.cache.clone().unwrap_or_else(eval::default_cache_path);
        let probe = FcdProbe::load(&data_dir, &cache, &chosen.device.clone().inner(), false)?;
        Ok(Some(EvalHook {
            probe: std::sync::Arc::new(probe),
            every: self.eval_every,
            every_cpu_s: self.eval_every_cpu,
            n: self.eval_samples as usize,
        }))
    }
}

pub(super) fn train(a: TrainArgs) -> anyhow::Result<()> {
    let chosen = device::choose(a.device.device.into())?;
    let preset = a.model.preset();
    let run_dir = a.run.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "{}-{}",
            preset.name(),
            a.model.recipe().loss.name()
        ))
    });
    a.validate()?;
    let opts = RunOptions {
        stop_after: None,
        quiet: false,
        iters_override: None,
        retune: Default::default(),
        eval: None,
        cpu_budget_s: a.cpu_budget,
        time_budget_s: a.time_budget,
        until_fcd: a.until_fcd,
    };
    let run = RunDir::new(&run_dir);
    // Held until the export at the end is written: one trainer per run directory.
    let (_lock, summary) = if a.resume {
        if !run_dir.is_dir() {
            anyhow::bail!("--resume: {} does not exist", run_dir.display());
        }
        let retune = a.model.retune()?;
        let lock = run.lock()?;
        let cfg = run.read_config()?;
        // Checked here too, before data loading, so a bad value fails at once.
        retune.apply(&cfg)?;
        // Before minutes of data loading or classifier training.
        run::check_resume(&run_dir, a.iters)?;
        let opts = RunOptions {
            eval: a.eval_hook(cfg.dataset, &chosen)?,
            ..opts
        };
        let data = TrainData::load(cfg.dataset, a.data.as_deref())?;
        eprintln!("resuming {} on {}", run_dir.display(), chosen.description);
        let opts = RunOptions {
            iters_override: a.iters,
            retune,
            ..opts
        };
        let summary = run::resume(&lock, &chosen.device, data, &opts)?;
        (lock, summary)
    } else {
        let dataset = dataset_for(preset, a.dataset.into());
        let cfg = a
            .model
            .config(dataset)
            .with_iters(a.iters.unwrap_or(DEFAULT_ITERS))
            .with_sample_every(a.sample_every)
            .with_checkpoint_every(a.checkpoint_every);
        cfg.validate()?;
        let lock = run.create_and_lock()?;
        let data = TrainData::load(cfg.dataset, a.data.as_deref())?;
        let opts = RunOptions {
            eval: a.eval_hook(cfg.dataset, &chosen)?,
            ..opts
        };
        eprintln!(
            "training {}{} / {} on {} → {}",
            cfg.preset.name(),
            if cfg.conditional {
                " (class-conditional)"
            } else {
                ""
            },
            cfg.loss.name(),
            chosen.description,
            run_dir.display()
        );
        let summary = run::start(cfg, &lock, &chosen.device, data, &opts)?;
        (lock, summary)
    };
    eprintln!(
        "{} at iteration {} ({:.2} it/s); samples in {}",
        if summary.finished {
            "finished"
        } else {
            "stopped (checkpoint written)"
        },
        summary.iteration,
        summary.iters_per_s,
        run.samples().display()
    );
    let cfg = run.read_config()?;
    if summary.finished && !a.no_export && cfg.preset.is_image() {
        export_run(&run_dir, None, Weights::Averaged)?;
    }
    Ok(())
}

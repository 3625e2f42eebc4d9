//! The `tinygan` command line: `train`, `sample`, `export`, `bench`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use rand::{Rng, SeedableRng};

use crate::data::{self, Split};
use crate::device::{self, DeviceChoice};
use crate::eval::{self, FcdProbe};
use crate::model::Preset;
use crate::objective::{Loss, OptimizerKind, Recipe};
use crate::report;
use crate::run::{self, EvalHook, RunOptions};
use crate::train::{
    DEFAULT_R1_EVERY, Dataset, LoadedGenerator, TrainConfig, TrainData, Trainer, Weights, generate,
};

/// Train GANs on handwritten digits and put the generator on a microcontroller.
#[derive(Parser, Debug)]
#[command(name = "tinygan", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Sub-commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a GAN (or continue one with --resume); writes a run directory.
    Train(TrainArgs),
    /// Draw samples from a trained run into an IDX3 ubyte file or a PNG grid.
    Sample(SampleArgs),
    /// Export a run's generator: ONNX (fp32, int8 QDQ), the runtime blob, a fidelity report.
    Export(ExportArgs),
    /// Measure training speed: prints `generator_iters_per_s X` as its last line.
    Bench(BenchArgs),
    /// Score generated digits: FCD vs MNIST (and the real-data floor), class histogram, confidence.
    Eval(crate::eval::EvalArgs),
}

/// Where to compute.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Compute device: auto = a hardware GPU through wgpu if present, else the CPU backend.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

/// Model and objective (shared by `train` and `bench`).
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model preset.
    #[arg(long, value_enum, default_value_t = Preset::Tiny)]
    pub preset: Preset,
    /// Objective [default: the preset's recipe (`Recipe::default_for`, from the recipe study)].
    #[arg(long, value_enum)]
    pub loss: Option<Loss>,
    /// Condition G and D on the digit class.
    #[arg(long)]
    pub conditional: bool,
    /// Spectral normalisation in the critic (for `wgan` it replaces weight clipping).
    #[arg(long)]
    pub spectral_norm: bool,
    /// Critic steps per generator step [default: 5 for the WGAN family, else 1].
    #[arg(long)]
    pub n_critic: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Optimiser [default: rmsprop for wgan, else adam].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Learning rate of both networks [default: 5e-5 wgan, 1e-4 penalties, 2e-4 gan/ns-gan;
    /// hinge: 1e-4 for G and 4e-4 for D].
    #[arg(long)]
    pub lr: Option<f64>,
    /// The generator's learning rate (two time-scales) [default: --lr].
    #[arg(long)]
    pub lr_g: Option<f64>,
    /// The critic's learning rate (two time-scales) [default: --lr].
    #[arg(long)]
    pub lr_d: Option<f64>,
    /// Adam β1 [default: 0.5; hinge: 0].
    #[arg(long)]
    pub beta1: Option<f64>,
    /// Adam β2 [default: 0.9 for penalties, 0.999 for gan/ns-gan].
    #[arg(long)]
    pub beta2: Option<f64>,
    /// Penalty weight λ.
    #[arg(long, default_value_t = 10.0)]
    pub lambda: f64,
    /// R1 penalty weight γ: (γ/2)·mean ‖∇ₓD(x)‖² on real digits (gan, ns-gan, hinge); 0 = off
    /// [default: the preset's recipe without --loss, else 0].
    #[arg(long)]
    pub r1: Option<f64>,
    /// Apply R1 lazily, every N critic steps with weight N·γ/2.
    #[arg(long, default_value_t = DEFAULT_R1_EVERY)]
    pub r1_every: u64,
    /// Weight-clipping bound c (wgan).
    #[arg(long, default_value_t = 0.01)]
    pub clip: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Decay of the moving average of the generator's weights that sampling and export use; 0
    /// turns it off [default: 0.995].
    #[arg(long)]
    pub ema: Option<f64>,
}

impl ModelArgs {
    /// The recipe these arguments ask for: the preset's default unless `--loss` names one, with
    /// the flags given on top of it.
    pub fn recipe(&self) -> Recipe {
        let mut r = match self.loss {
            None => Recipe::default_for(self.preset),
            Some(loss) => Recipe::of(loss),
        };
        r.spectral_norm |= self.spectral_norm;
        if let Some(g) = self.r1 {
            r.r1 = (g != 0.0).then_some(g);
        }
        r.n_critic = self.n_critic.unwrap_or(r.n_critic);
        let optim = &mut r.optim;
        if let Some(k) = self.optimizer {
            optim.kind = k;
            if k == OptimizerKind::Adam && optim.beta2 == 0.0 {
                (optim.beta1, optim.beta2) = (0.5, 0.9);
            }
        }
        if let Some(lr) = self.lr {
            (optim.lr, optim.lr_g, optim.lr_d) = (lr, None, None);
        }
        optim.lr_g = self.lr_g.or(optim.lr_g);
        optim.lr_d = self.lr_d.or(optim.lr_d);
        if let Some(b) = self.beta1 {
            optim.beta1 = b;
        }
        if let Some(b) = self.beta2 {
            optim.beta2 = b;
        }
        r
    }

    /// The training config these arguments describe.
    pub fn config(&self, dataset: Dataset) -> TrainConfig {
        let recipe = self.recipe();
        TrainConfig::new(self.preset, recipe.loss, recipe.n_critic, recipe.optim)
            .with_dataset(dataset)
            .with_conditional(self.conditional)
            .with_spectral_norm(recipe.spectral_norm)
            .with_batch(self.batch)
            .with_lambda(self.lambda)
            .with_clip(self.clip)
            .with_seed(self.seed)
            .with_ema(self.ema)
            .with_r1(recipe.r1)
            .with_r1_every(Some(self.r1_every))
    }
}

/// `tinygan train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    device: DeviceArgs,
    /// Training data.
    #[arg(long, value_enum, default_value_t = Dataset::Mnist)]
    dataset: Dataset,
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
    /// end to iteration N, which must lie beyond the checkpoint).
    #[arg(long)]
    resume: bool,
    /// Sample grid every N iterations.
    #[arg(long, default_value_t = 250)]
    sample_every: u64,
    /// Checkpoint every N iterations.
    #[arg(long, default_value_t = 500)]
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

/// `tinygan sample`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").args(["run", "blob"]).required(true)))]
pub struct SampleArgs {
    /// Run directory (the trainer's fp32 generator).
    #[arg(long)]
    run: Option<PathBuf>,
    /// A runtime blob (`generator.tgb`): the int8 generator exactly as the firmware runs it, with
    /// the firmware's own latent sampler (`runtime_nostd::latent(seed, i)`).
    #[arg(long)]
    blob: Option<PathBuf>,
    /// Number of digits.
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// Output: `*.png` for a grid, anything else (e.g. `*.idx`) for an IDX3 ubyte file.
    #[arg(long)]
    out: PathBuf,
    /// Digit class (conditional models only).
    #[arg(long)]
    class: Option<u8>,
    /// Noise seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Which generator weights of the run to use (`--run`).
    #[arg(long, value_enum, default_value_t = Weights::Averaged)]
    weights: Weights,
    #[command(flatten)]
    device: DeviceArgs,
}

/// `tinygan export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run directory.
    #[arg(long)]
    run: PathBuf,
    /// Output directory [default: RUN/export].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Which generator weights of the run to export.
    #[arg(long, value_enum, default_value_t = Weights::Averaged)]
    weights: Weights,
}

/// `tinygan bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    device: DeviceArgs,
    /// Timed generator iterations (after 2 warm-up iterations).
    #[arg(long, default_value_t = 20)]
    iters: u64,
}

/// Runs the CLI.
pub fn main_with(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(a) => train(a),
        Command::Sample(a) => sample(a),
        Command::Export(a) => export_run(&a.run, a.out.as_deref(), a.weights),
        Command::Bench(a) => bench(a),
        Command::Eval(a) => crate::eval::eval_command(a),
    }
}

fn load_data(dataset: Dataset, dir: Option<&Path>) -> anyhow::Result<TrainData> {
    Ok(match dataset {
        Dataset::Gaussians8 => TrainData::Gaussians8,
        Dataset::Mnist => {
            let dir = data::resolve_data_dir(dir);
            data::ensure_mnist(&dir)?;
            let m = data::load_mnist(&dir, Split::Train)?;
            TrainData::Images {
                images: m.images,
                labels: m.labels,
            }
        }
    })
}

fn train(a: TrainArgs) -> anyhow::Result<()> {
    let chosen = device::choose(a.device.device)?;
    let run_dir = a.run.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "{}-{}",
            a.model.preset.name(),
            a.model.recipe().loss.name()
        ))
    });
    if let Some(b) = a.cpu_budget {
        anyhow::ensure!(b > 0.0 && b.is_finite(), "--cpu-budget must be > 0 seconds");
    }
    if let Some(b) = a.time_budget {
        anyhow::ensure!(
            b > 0.0 && b.is_finite(),
            "--time-budget must be > 0 seconds"
        );
    }
    if let Some(e) = a.eval_every_cpu {
        anyhow::ensure!(
            e > 0.0 && e.is_finite(),
            "--eval-every-cpu must be > 0 seconds"
        );
    }
    anyhow::ensure!(
        a.until_fcd.is_none() || a.eval_every > 0 || a.eval_every_cpu.is_some(),
        "--until-fcd needs FCD measurements: add --eval-every N or --eval-every-cpu SECONDS"
    );
    let eval = |dataset: Dataset| -> anyhow::Result<Option<EvalHook>> {
        if a.eval_every == 0 && a.eval_every_cpu.is_none() {
            return Ok(None);
        }
        if dataset != Dataset::Mnist {
            anyhow::bail!("--eval-every measures digits; it needs --dataset mnist");
        }
        let data_dir = data::resolve_data_dir(a.data.as_deref());
        let cache = a.cache.clone().unwrap_or_else(eval::default_cache_path);
        let probe = FcdProbe::load(&data_dir, &cache, &chosen.device.clone().inner(), false)?;
        Ok(Some(EvalHook {
            probe: std::sync::Arc::new(probe),
            every: a.eval_every,
            every_cpu_s: a.eval_every_cpu,
            n: a.eval_samples as usize,
        }))
    };
    let opts = RunOptions {
        stop_after: None,
        quiet: false,
        iters_override: None,
        eval: None,
        cpu_budget_s: a.cpu_budget,
        time_budget_s: a.time_budget,
        until_fcd: a.until_fcd,
    };
    let summary = if a.resume {
        let cfg = run::read_config(&run_dir)?;
        // Before minutes of data loading or classifier training.
        run::check_resume(&run_dir, a.iters)?;
        let opts = RunOptions {
            eval: eval(cfg.dataset)?,
            ..opts
        };
        let data = load_data(cfg.dataset, a.data.as_deref())?;
        eprintln!("resuming {} on {}", run_dir.display(), chosen.description);
        let opts = RunOptions {
            iters_override: a.iters,
            ..opts
        };
        run::resume(&run_dir, &chosen.device, data, &opts)?
    } else {
        let dataset = if a.model.preset == Preset::Toy {
            Dataset::Gaussians8
        } else {
            a.dataset
        };
        let cfg = a
            .model
            .config(dataset)
            .with_iters(a.iters.unwrap_or(5000))
            .with_sample_every(a.sample_every)
            .with_checkpoint_every(a.checkpoint_every);
        cfg.validate()?;
        let data = load_data(cfg.dataset, a.data.as_deref())?;
        let opts = RunOptions {
            eval: eval(cfg.dataset)?,
            ..opts
        };
        eprintln!(
            "training {} / {} on {} → {}",
            cfg.preset.name(),
            cfg.loss.name(),
            chosen.description,
            run_dir.display()
        );
        run::start(cfg, &run_dir, &chosen.device, data, &opts)?
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
        run_dir.join("samples").display()
    );
    let cfg = run::read_config(&run_dir)?;
    if summary.finished && !a.no_export && cfg.preset.is_image() {
        export_run(&run_dir, None, Weights::Averaged)?;
    }
    Ok(())
}

fn sample(a: SampleArgs) -> anyhow::Result<()> {
    if a.n == 0 {
        bail!("--n must be at least 1");
    }
    let images = match (&a.run, &a.blob) {
        (Some(run_dir), _) => sample_run_fp32(&a, run_dir)?,
        (_, Some(blob)) => sample_blob_int8(&a, blob)?,
        _ => bail!("give --run DIR or --blob FILE"),
    };
    let is_png = a
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png {
        report::save_grid_png(&a.out, &images, a.n, 8.min(a.n))?;
    } else {
        let u8s: Vec<u8> = images.iter().map(|&v| data::signed_to_pixel(v)).collect();
        data::write_idx_images(&a.out, &u8s, a.n)
            .with_context(|| format!("cannot write {}", a.out.display()))?;
    }
    eprintln!("wrote {} digits to {}", a.n, a.out.display());
    Ok(())
}

/// `n` digits (values in [-1, 1]) from the fp32 generator of a run.
fn sample_run_fp32(a: &SampleArgs, run_dir: &Path) -> anyhow::Result<Vec<f32>> {
    let chosen = device::choose(a.device.device)?;
    let LoadedGenerator {
        generator,
        config: cfg,
        ..
    } = Trainer::load_generator(&run::checkpoint_path(run_dir), &chosen.device, a.weights)?;
    if !cfg.preset.is_image() {
        bail!(
            "sample writes digits; {} is a {} run",
            run_dir.display(),
            cfg.preset.name()
        );
    }
    let labels: Option<Vec<u8>> = match (a.class, cfg.conditional) {
        (Some(c), true) if c <= 9 => Some(vec![c; a.n]),
        (Some(c), true) => bail!("--class must be 0..=9, got {c}"),
        (Some(_), false) => bail!(
            "--class needs a conditional model; {} is not",
            run_dir.display()
        ),
        (None, true) => Some((0..a.n).map(|i| (i % 10) as u8).collect()),
        (None, false) => None,
    };
    let mut rng = rand_pcg::Pcg64::seed_from_u64(a.seed);
    let z: Vec<f32> = (0..a.n * cfg.preset.z_dim())
        .map(|_| rng.sample(rand_distr::StandardNormal))
        .collect();
    let mut images = Vec::with_capacity(a.n * 784);
    for chunk in 0..a.n.div_ceil(256) {
        let lo = chunk * 256;
        let hi = (lo + 256).min(a.n);
        let zd = cfg.preset.z_dim();
        let l = labels.as_ref().map(|l| &l[lo..hi]);
        images.extend(generate(
            &generator,
            &z[lo * zd..hi * zd],
            l,
            &chosen.device,
        ));
    }
    Ok(images)
}

/// `n` digits (values in [-1, 1], from the runtime's u8 pixels) from the int8 runtime on a blob.
fn sample_blob_int8(a: &SampleArgs, path: &Path) -> anyhow::Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let model = runtime_nostd::Model::parse(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a valid tinygan blob: {e}", path.display()))?;
    let classes = model.num_classes();
    let label = |i: usize| -> anyhow::Result<Option<u8>> {
        Ok(match (a.class, classes) {
            (Some(c), n) if n > 0 && (c as usize) < n => Some(c),
            (Some(c), n) if n > 0 => bail!("--class must be 0..={}, got {c}", n - 1),
            (Some(_), _) => bail!(
                "--class needs a conditional model; {} is not",
                path.display()
            ),
            (None, 0) => None,
            (None, n) => Some((i % n) as u8),
        })
    };
    let mut scratch = runtime_nostd::Scratch::<{ runtime_nostd::MAX_PRESET_SCRATCH }>::new();
    let mut z = vec![0f32; model.z_dim()];
    let mut px = [0u8; runtime_nostd::IMAGE_PIXELS];
    let mut images = Vec::with_capacity(a.n * 784);
    for i in 0..a.n {
        runtime_nostd::latent(a.seed, i as u32, &mut z);
        model
            .generate(&z, label(i)?, &mut scratch, &mut px)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        images.extend(px.iter().map(|&p| p as f32 / 127.5 - 1.0));
    }
    Ok(images)
}

/// Exports the generator of the run in `run_dir` into `out` (default `RUN/export`).
pub fn export_run(run_dir: &Path, out: Option<&Path>, weights: Weights) -> anyhow::Result<()> {
    let device = burn::prelude::Device::flex();
    let ck = run::checkpoint_path(run_dir);
    let LoadedGenerator {
        generator,
        config: cfg,
        iteration,
        averaged,
    } = Trainer::load_generator(&ck, &device, weights)?;
    if !cfg.preset.is_image() {
        bail!(
            "export needs an image preset; {} is {}",
            run_dir.display(),
            cfg.preset.name()
        );
    }
    let spec = crate::to_spec::generator_spec(&generator, cfg.preset, cfg.loss.name(), iteration);
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| run_dir.join("export"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let report = export::export_all(&spec, &out, &export::ExportOptions::default())?;
    println!(
        "weights: {}",
        if averaged {
            "moving average (--weights trained for the last trained weights)"
        } else {
            "trained"
        }
    );
    println!("{report}");
    eprintln!("exported to {}", out.display());
    Ok(())
}

fn bench(a: BenchArgs) -> anyhow::Result<()> {
    if a.iters == 0 {
        bail!("--iters must be at least 1");
    }
    let chosen = device::choose(a.device.device)?;
    let dataset = if a.model.preset == Preset::Toy {
        Dataset::Gaussians8
    } else {
        Dataset::Mnist
    };
    let cfg = a.model.config(dataset);
    // Timing does not depend on pixel values: synthetic digits keep the benchmark free of files.
    let data = match dataset {
        Dataset::Gaussians8 => TrainData::Gaussians8,
        Dataset::Mnist => {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
            let n = 1024;
            TrainData::Images {
                images: (0..n * 784).map(|_| rng.random()).collect(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::Loss;

    fn model(args: &[&str]) -> ModelArgs {
        let cli = Cli::try_parse_from([&["tinygan", "bench"], args].concat()).unwrap();
        match cli.command {
            Command::Bench(b) => b.model,
            _ => unreachable!("bench was parsed"),
        }
    }

    #[test]
    fn without_loss_the_preset_recipe_applies_and_flags_go_on_top() {
        for preset in [Preset::Tiny, Preset::Dcgan, Preset::Mlp] {
            let r = model(&["--preset", preset.name()]).recipe();
            assert_eq!(r, Recipe::default_for(preset));
        }
        // --loss picks that objective's own defaults, not the preset's recipe.
        let r = model(&["--loss", "ns-gan"]).recipe();
        assert_eq!(r, Recipe::of(Loss::NsGan));
        // --lr sets both networks, replacing hinge's two time-scales; --lr-d then splits again.
        let r = model(&["--loss", "hinge", "--lr", "3e-4"]).recipe();
        assert_eq!((r.optim.lr_g(), r.optim.lr_d()), (3e-4, 3e-4));
        let r = model(&["--loss", "hinge", "--lr", "3e-4", "--lr-d", "1e-3"]).recipe();
        assert_eq!((r.optim.lr_g(), r.optim.lr_d()), (3e-4, 1e-3));
        let r = model(&["--loss", "ns-gan", "--r1", "2", "--n-critic", "3"]).recipe();
        assert_eq!((r.r1, r.n_critic), (Some(2.0), 3));
        // --r1 0 turns a recipe's R1 off.
        assert_eq!(model(&["--r1", "0"]).recipe().r1, None);
    }
}

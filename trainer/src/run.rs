//! A training run on disk: what a person watches (progress bar, metrics, sample grids, GIF, loss
//! plot) and what survives an interruption (atomic checkpoints, `--resume`).
//!
//! Run directory layout:
//!
//! ```text
//! RUN/config.json        the full TrainConfig
//! RUN/metrics.csv        one row per iteration
//! RUN/samples/iter_NNNNNNN.png   grids from a fixed noise batch
//! RUN/samples.gif        the grids, animated (written when the run ends or is stopped)
//! RUN/losses.png         loss curves (written when the run ends or is stopped)
//! RUN/checkpoint.tgc     models, optimisers, RNG, iteration (atomic)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::prelude::*;
use cpu_time::ProcessTime;
use indicatif::{ProgressBar, ProgressStyle};

use crate::checkpoint;
use crate::eval::{FcdProbe, quick_fcd};
use crate::report::{self, MetricsCsv, MetricsRow};
use crate::train::{TrainConfig, TrainData, Trainer, fixed_noise, generate};

/// Number of samples in the fixed-noise grid.
pub const GRID_SAMPLES: usize = 64;

/// Sample quality measured during training: FCD of `n` generated digits every `every` iterations
/// (written to the `fcd` column of `metrics.csv` and plotted in `losses.png`).
#[derive(Clone)]
pub struct EvalHook {
    /// The judge (classifier + MNIST test statistics).
    pub probe: Arc<FcdProbe>,
    /// Measure every this many iterations (and at the last one); 0 = not by iterations.
    pub every: u64,
    /// Also measure each time this many more training CPU seconds have passed (`cpu_s`).
    pub every_cpu_s: Option<f64>,
    /// Digits per measurement (1000 ≈ 1–2 s on 2 CPU cores).
    pub n: usize,
}

impl std::fmt::Debug for EvalHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalHook")
            .field("every", &self.every)
            .field("every_cpu_s", &self.every_cpu_s)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop (with a checkpoint, as on Ctrl-C) after this many iterations in this process.
    pub stop_after: Option<u64>,
    /// Hide the progress bar (tests).
    pub quiet: bool,
    /// Train up to this many iterations on resume (overrides the saved config; must lie beyond the
    /// checkpoint).
    pub iters_override: Option<u64>,
    /// Measure sample quality during training.
    pub eval: Option<EvalHook>,
    /// End the run (checkpoint, outputs, as at its last iteration) once its training steps have
    /// used this many process CPU seconds (`cpu_s`, earlier sessions included).
    pub cpu_budget_s: Option<f64>,
    /// End the run (as `cpu_budget_s`) once it has trained for this many wall-clock seconds
    /// (`elapsed_s`, earlier sessions included).
    pub time_budget_s: Option<f64>,
    /// End the run (as finished) at the first FCD measurement at or below this level (the
    /// averaged weights' FCD where kept).
    pub until_fcd: Option<f64>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Iteration reached.
    pub iteration: u64,
    /// Whether all `iters` were done (false when stopped early).
    pub finished: bool,
    /// Generator iterations per second in this process.
    pub iters_per_s: f64,
}

/// Path of a run's checkpoint.
pub fn checkpoint_path(run: &Path) -> PathBuf {
    checkpoint::path_in(run)
}

/// Starts a new run in `run_dir` (which must not hold a run yet).
pub fn start(
    cfg: TrainConfig,
    run_dir: &Path,
    device: &Device,
    data: TrainData,
    opts: &RunOptions,
) -> anyhow::Result<RunSummary> {
    if checkpoint_path(run_dir).exists() || run_dir.join("config.json").exists() {
        bail!(
            "{} already holds a run; use --resume to continue it, or choose another --run",
            run_dir.display()
        );
    }
    std::fs::create_dir_all(run_dir.join("samples"))
        .with_context(|| format!("cannot create run directory {}", run_dir.display()))?;
    let trainer = Trainer::new(cfg, device, data)?;
    write_config(&trainer.cfg, run_dir)?;
    drive(trainer, run_dir, opts)
}

/// Continues the run in `run_dir` from its checkpoint.
pub fn resume(
    run_dir: &Path,
    device: &Device,
    data: TrainData,
    opts: &RunOptions,
) -> anyhow::Result<RunSummary> {
    let ck = checkpoint_path(run_dir);
    ensure_checkpoint(run_dir, &ck)?;
    let mut trainer = Trainer::load(&ck, device, data)?;
    if let Some(n) = opts.iters_override {
        ensure_beyond(run_dir, n, trainer.iteration)?;
        trainer.cfg.iters = n;
        write_config(&trainer.cfg, run_dir)?;
    }
    drive(trainer, run_dir, opts)
}

/// Checks that `run_dir` holds a checkpoint to resume and that `iters` (the new end, if given)
/// lies beyond it; cheap next to loading the training data, so callers can check first.
pub fn check_resume(run_dir: &Path, iters: Option<u64>) -> anyhow::Result<()> {
    let ck = checkpoint_path(run_dir);
    ensure_checkpoint(run_dir, &ck)?;
    match iters {
        Some(n) => ensure_beyond(run_dir, n, crate::train::checkpoint_iteration(&ck)?),
        None => Ok(()),
    }
}

fn ensure_checkpoint(run_dir: &Path, ck: &Path) -> anyhow::Result<()> {
    if !ck.exists() {
        bail!(
            "--resume: {} has no checkpoint ({})",
            run_dir.display(),
            ck.display()
        );
    }
    Ok(())
}

/// `--iters n` must lie beyond the checkpoint's iteration `at`.
fn ensure_beyond(run_dir: &Path, n: u64, at: u64) -> anyhow::Result<()> {
    if n <= at {
        bail!(
            "--iters {n}: the run in {} is already at iteration {at}; give a larger --iters to \
             train on",
            run_dir.display()
        );
    }
    Ok(())
}

/// Reads a run's config.
pub fn read_config(run_dir: &Path) -> anyhow::Result<TrainConfig> {
    let p = run_dir.join("config.json");
    let s = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&s).with_context(|| format!("{} is not a valid run config", p.display()))
}

fn write_config(cfg: &TrainConfig, run_dir: &Path) -> anyhow::Result<()> {
    let p = run_dir.join("config.json");
    let tmp = run_dir.join("config.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(cfg)?)?;
    std::fs::rename(&tmp, &p).with_context(|| format!("cannot write {}", p.display()))
}

/// Writes the sample grid of the weights that export would use (the moving average when kept).
fn save_samples(trainer: &Trainer, run_dir: &Path, z: &[f32], labels: &[u8]) -> anyhow::Result<()> {
    let out = generate(
        &trainer.sampling_generator(),
        z,
        Some(labels),
        &trainer.device.clone().inner(),
    );
    let path = run_dir
        .join("samples")
        .join(format!("iter_{:07}.png", trainer.iteration));
    if trainer.cfg.preset.is_image() {
        report::save_grid_png(&path, &out, GRID_SAMPLES, 8)
    } else {
        let title = format!("iteration {}", trainer.iteration);
        report::save_scatter_png(&path, &out, &crate::data::gaussians8_centers(), &title)
    }
}

fn drive(mut trainer: Trainer, run_dir: &Path, opts: &RunOptions) -> anyhow::Result<RunSummary> {
    let cfg = trainer.cfg.clone();
    let ck = checkpoint_path(run_dir);
    let z_fixed = fixed_noise(cfg.seed, GRID_SAMPLES, cfg.preset.z_dim());
    let labels_fixed: Vec<u8> = (0..GRID_SAMPLES).map(|i| (i % 10) as u8).collect();
    let resume_from = (trainer.iteration > 0).then_some(trainer.iteration);
    let mut csv = MetricsCsv::open(run_dir, resume_from)?;

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        // A second handler registration fails (tests run several runs in one process): fine.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }

    let bar = if opts.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(cfg.iters)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {per_sec} eta {eta} {msg}",
        )
        .expect("valid template"),
    );
    bar.set_position(trainer.iteration);

    if trainer.iteration == 0 {
        save_samples(&trainer, run_dir, &z_fixed, &labels_fixed)?;
    }
    let t0 = Instant::now();
    let start_iter = trainer.iteration;
    let mut window = Instant::now();
    let mut window_iters = 0u64;
    let mut rate = 0.0;
    let mut finished = true;
    let mut last_fcd = None;
    let mut cpu_s = csv.cpu_before();
    let mut next_eval_cpu = opts
        .eval
        .as_ref()
        .and_then(|h| h.every_cpu_s)
        .map(|e| (cpu_s / e).floor() * e + e);
    let mut end = cfg.iters;
    while trainer.iteration < end {
        if interrupted.load(Ordering::SeqCst)
            || opts
                .stop_after
                .is_some_and(|n| trainer.iteration - start_iter >= n)
        {
            finished = false;
            break;
        }
        let cpu0 = ProcessTime::now();
        let step = trainer.step();
        cpu_s += cpu0.elapsed().as_secs_f64();
        let elapsed_s = csv.elapsed_before() + t0.elapsed().as_secs_f64();
        if opts.cpu_budget_s.is_some_and(|b| cpu_s >= b)
            || opts.time_budget_s.is_some_and(|b| elapsed_s >= b)
        {
            // A budget is spent: this iteration is the run's last.
            end = trainer.iteration;
        }
        let stats = match step {
            Ok(s) => s,
            Err(e) => {
                bar.abandon();
                csv.flush()?;
                bail!(
                    "{e}. The last good checkpoint ({}) is left intact.",
                    if ck.exists() {
                        ck.display().to_string()
                    } else {
                        "none yet".into()
                    }
                );
            }
        };
        window_iters += 1;
        let dt = window.elapsed().as_secs_f64();
        if dt >= 1.0 || rate == 0.0 {
            rate = window_iters as f64 / dt.max(1e-9);
            window = Instant::now();
            window_iters = 0;
        }
        let it = trainer.iteration;
        let cpu_due = next_eval_cpu.is_some_and(|t| cpu_s >= t);
        if let (true, Some(h)) = (cpu_due, &opts.eval) {
            let e = h.every_cpu_s.expect("set when due");
            next_eval_cpu = Some((cpu_s / e).floor() * e + e);
        }
        let (fcd, fcd_ema) = match &opts.eval {
            Some(h) if cpu_due || it == end || (h.every > 0 && it.is_multiple_of(h.every)) => {
                // The same latents every time, so the curve shows the model, not the draw.
                let seed = cfg.seed ^ 0x05ee_dfcd;
                // Inference mode: batch norm reads its running statistics and leaves them alone.
                let g = trainer.generator.valid();
                let dev = trainer.device.clone().inner();
                let live = quick_fcd(&h.probe, &g, &dev, h.n, seed)?;
                let avg = if trainer.has_average() {
                    let g = trainer.sampling_generator();
                    Some(quick_fcd(&h.probe, &g, &dev, h.n, seed)?)
                } else {
                    None
                };
                (Some(live), avg)
            }
            _ => (None, None),
        };
        if let Some(f) = fcd_ema.or(fcd) {
            last_fcd = Some(f);
            if opts.until_fcd.is_some_and(|x| f <= x) {
                end = it;
            }
        }
        csv.append(&MetricsRow {
            iter: it,
            d_loss: Some(stats.d_loss),
            g_loss: Some(stats.g_loss),
            wasserstein: stats.wasserstein,
            d_acc_real: stats.acc_real,
            d_acc_fake: stats.acc_fake,
            grad_norm: stats.grad_norm,
            g_grad_norm: Some(stats.g_grad_norm),
            iters_per_s: Some(rate),
            elapsed_s: Some(elapsed_s),
            cpu_s: Some(cpu_s),
            fcd,
            fcd_ema,
        })?;
        let mut msg = format!("D {:.4} G {:.4}", stats.d_loss, stats.g_loss);
        if let Some(w) = stats.wasserstein {
            msg += &format!(" W {w:.4}");
        }
        if let (Some(r), Some(f)) = (stats.acc_real, stats.acc_fake) {
            msg += &format!(" acc {r:.2}/{f:.2}");
        }
        if let Some(g) = stats.grad_norm {
            msg += &format!(" |∇| {g:.3}");
        }
        if let Some(f) = last_fcd {
            msg += &format!(" FCD {f:.2}");
        }
        bar.set_message(msg);
        bar.set_position(it);
        if it.is_multiple_of(cfg.sample_every) || it == end {
            save_samples(&trainer, run_dir, &z_fixed, &labels_fixed)?;
        }
        if it.is_multiple_of(cfg.checkpoint_every) || it == end {
            csv.flush()?;
            trainer.save(&ck)?;
        }
    }
    csv.flush()?;
    if trainer.iteration > start_iter {
        trainer.save(&ck)?;
    }
    bar.finish();
    // Also when interrupted: a long run stopped with Ctrl-C keeps an up-to-date plot and GIF.
    finish_outputs(run_dir)?;
    let done = trainer.iteration - start_iter;
    Ok(RunSummary {
        iteration: trainer.iteration,
        finished,
        iters_per_s: done as f64 / t0.elapsed().as_secs_f64().max(1e-9),
    })
}

/// Writes the end-of-run artefacts: the animated GIF of sample grids and the loss plot.
pub fn finish_outputs(run_dir: &Path) -> anyhow::Result<()> {
    let mut frames: Vec<PathBuf> = std::fs::read_dir(run_dir.join("samples"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    frames.sort();
    if !frames.is_empty() {
        report::save_gif_from_pngs(&run_dir.join("samples.gif"), &frames, 50)?;
    }
    let rows = report::read_metrics(&run_dir.join("metrics.csv"))?;
    if !rows.is_empty() {
        report::plot_losses(&rows, &run_dir.join("losses.png"))?;
    }
    Ok(())
}

//! A training run on disk: what a person watches (progress bar, metrics, sample grids, GIF, loss
//! plot) and what survives an interruption (atomic checkpoints, `--resume`). The directory's
//! layout is described in [`crate::rundir`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::prelude::*;
use cpu_time::ProcessTime;
use indicatif::{ProgressBar, ProgressStyle};

use crate::checkpoint::checkpoint_iteration;
use crate::config::{Retune, TrainConfig};
use crate::data::{TrainData, gaussians8_centers};
use crate::eval::{FcdProbe, quick_fcd};
use crate::report::{self, MetricsCsv, MetricsRow};
use crate::rundir::{RunDir, RunLock};
use crate::sample::{cycling_labels, fixed_noise, try_generate};
use crate::step::StepStats;
use crate::train::Trainer;

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
    /// New learning rates or averaging decay from the checkpoint on (on resume).
    pub retune: Retune,
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
    RunDir::new(run).checkpoint()
}

/// Reads a run's config.
pub fn read_config(run_dir: &Path) -> anyhow::Result<TrainConfig> {
    RunDir::new(run_dir).read_config()
}

/// Starts a new run in the locked directory (which must not hold a run yet).
pub fn start(
    cfg: TrainConfig,
    lock: &RunLock,
    device: &Device,
    data: TrainData,
    opts: &RunOptions,
) -> anyhow::Result<RunSummary> {
    let run = lock.run().clone();
    if run.holds_run() {
        bail!(
            "{} already holds a run; use --resume to continue it, or choose another --run",
            run.path().display()
        );
    }
    std::fs::create_dir_all(run.samples())
        .with_context(|| format!("cannot create run directory {}", run.path().display()))?;
    let trainer = Trainer::new(cfg, device, data)?;
    run.write_config(&trainer.cfg)?;
    Session::open(trainer, run, opts)?.drive()
}

/// Continues the run in the locked directory from its checkpoint. A run stopped before its first
/// checkpoint (killed while starting) kept nothing trained: it starts again from its saved config,
/// exactly as it first started.
pub fn resume(
    lock: &RunLock,
    device: &Device,
    data: TrainData,
    opts: &RunOptions,
) -> anyhow::Result<RunSummary> {
    let run = lock.run().clone();
    let ck = run.checkpoint();
    ensure_resumable(&run)?;
    let mut trainer = if ck.exists() {
        Trainer::load(&ck, device, data)?
    } else {
        Trainer::new(run.read_config()?, device, data)?
    };
    if let Some(n) = opts.iters_override {
        ensure_beyond(run.path(), n, trainer.iteration)?;
        trainer.cfg.iters = n;
        run.write_config(&trainer.cfg)?;
    }
    if !opts.retune.is_empty() {
        trainer.cfg = opts.retune.apply(&trainer.cfg)?;
        run.write_config(&trainer.cfg)?;
    }
    Session::open(trainer, run, opts)?.drive()
}

/// Checks that `run_dir` holds a run to resume (a checkpoint, or the config of a run stopped
/// before its first checkpoint) and that `iters` (the new end, if given) lies beyond it; cheap
/// next to loading the training data, so callers can check first.
pub fn check_resume(run_dir: &Path, iters: Option<u64>) -> anyhow::Result<()> {
    let run = RunDir::new(run_dir);
    ensure_resumable(&run)?;
    let ck = run.checkpoint();
    let at = if ck.exists() {
        checkpoint_iteration(&ck)?
    } else {
        0
    };
    match iters {
        Some(n) => ensure_beyond(run_dir, n, at),
        None => Ok(()),
    }
}

fn ensure_resumable(run: &RunDir) -> anyhow::Result<()> {
    if !run.checkpoint().exists() && !run.config_path().exists() {
        bail!(
            "--resume: {} holds no run (neither {} nor {})",
            run.path().display(),
            run.checkpoint().display(),
            run.config_path().display()
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

/// Generator iterations per second over windows of about a second.
struct Rate {
    window: Instant,
    iters: u64,
    per_s: f64,
}

impl Rate {
    fn new() -> Self {
        Rate {
            window: Instant::now(),
            iters: 0,
            per_s: 0.0,
        }
    }

    /// Counts one iteration; returns the current rate.
    fn tick(&mut self) -> f64 {
        self.iters += 1;
        let dt = self.window.elapsed().as_secs_f64();
        if dt >= 1.0 || self.per_s == 0.0 {
            self.per_s = self.iters as f64 / dt.max(1e-9);
            self.window = Instant::now();
            self.iters = 0;
        }
        self.per_s
    }
}

/// The FCD measurements of a session: when they are due, and the last value.
struct Fcd<'a> {
    hook: Option<&'a EvalHook>,
    next_cpu: Option<f64>,
    last: Option<f64>,
}

impl<'a> Fcd<'a> {
    fn new(hook: Option<&'a EvalHook>, cpu_s: f64) -> Self {
        let next_cpu = hook
            .and_then(|h| h.every_cpu_s)
            .map(|e| (cpu_s / e).floor() * e + e);
        Fcd {
            hook,
            next_cpu,
            last: None,
        }
    }

    /// The FCD of the trained and of the averaged weights, when a measurement is due at
    /// iteration `it` (the run ending at `end`, `cpu_s` training CPU seconds used).
    fn measure(
        &mut self,
        trainer: &Trainer,
        it: u64,
        end: u64,
        cpu_s: f64,
    ) -> anyhow::Result<(Option<f64>, Option<f64>)> {
        let Some(h) = self.hook else {
            return Ok((None, None));
        };
        let cpu_due = self.next_cpu.is_some_and(|t| cpu_s >= t);
        if let (true, Some(e)) = (cpu_due, h.every_cpu_s) {
            self.next_cpu = Some((cpu_s / e).floor() * e + e);
        }
        if !(cpu_due || it == end || (h.every > 0 && it.is_multiple_of(h.every))) {
            return Ok((None, None));
        }
        // The same latents every time, so the curve shows the model, not the draw.
        let seed = trainer.cfg.seed ^ 0x05ee_dfcd;
        // Inference mode: batch norm reads its running statistics and leaves them alone.
        let dev = trainer.device.clone().inner();
        let live = quick_fcd(&h.probe, &trainer.generator.valid(), &dev, h.n, seed)?;
        let avg = if trainer.has_average() {
            let g = trainer.sampling_generator();
            Some(quick_fcd(&h.probe, &g, &dev, h.n, seed)?)
        } else {
            None
        };
        self.last = avg.or(Some(live));
        Ok((Some(live), avg))
    }
}

/// One process's share of a run: the trainer and everything that watches it.
struct Session<'a> {
    trainer: Trainer,
    run: RunDir,
    opts: &'a RunOptions,
    csv: MetricsCsv,
    bar: ProgressBar,
    interrupted: Arc<AtomicBool>,
    z_fixed: Vec<f32>,
    labels_fixed: Vec<u8>,
    start_iter: u64,
    t0: Instant,
}

impl<'a> Session<'a> {
    fn open(trainer: Trainer, run: RunDir, opts: &'a RunOptions) -> anyhow::Result<Self> {
        let cfg = &trainer.cfg;
        let resume_from = (trainer.iteration > 0).then_some(trainer.iteration);
        let csv = MetricsCsv::open(run.path(), resume_from)?;
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
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {per_sec} eta {eta} {msg}",
        )
        .context("progress bar template")?;
        bar.set_style(style);
        bar.set_position(trainer.iteration);
        Ok(Session {
            z_fixed: fixed_noise(cfg.seed, GRID_SAMPLES, cfg.preset.z_dim()),
            labels_fixed: cycling_labels(GRID_SAMPLES, 10),
            start_iter: trainer.iteration,
            t0: Instant::now(),
            trainer,
            run,
            opts,
            csv,
            bar,
            interrupted,
        })
    }

    /// Whether Ctrl-C or `stop_after` ends this session before the next iteration.
    fn stop_requested(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
            || self
                .opts
                .stop_after
                .is_some_and(|n| self.trainer.iteration - self.start_iter >= n)
    }

    /// Trains until the run's end, a budget, an FCD target or a stop request.
    fn drive(mut self) -> anyhow::Result<RunSummary> {
        if self.trainer.iteration == 0 {
            self.save_samples()?;
        }
        let mut rate = Rate::new();
        let mut fcd = Fcd::new(self.opts.eval.as_ref(), self.csv.cpu_before());
        let mut cpu_s = self.csv.cpu_before();
        let mut end = self.trainer.cfg.iters;
        let mut finished = true;
        while self.trainer.iteration < end {
            if self.stop_requested() {
                finished = false;
                break;
            }
            let cpu0 = ProcessTime::now();
            let step = self.trainer.step();
            cpu_s += cpu0.elapsed().as_secs_f64();
            let elapsed_s = self.csv.elapsed_before() + self.t0.elapsed().as_secs_f64();
            if self.opts.cpu_budget_s.is_some_and(|b| cpu_s >= b)
                || self.opts.time_budget_s.is_some_and(|b| elapsed_s >= b)
            {
                // A budget is spent: this iteration is the run's last.
                end = self.trainer.iteration;
            }
            let stats = match step {
                Ok(s) => s,
                Err(e) => return Err(self.diverged(e)),
            };
            let iters_per_s = rate.tick();
            let it = self.trainer.iteration;
            let (fcd_live, fcd_ema) = fcd.measure(&self.trainer, it, end, cpu_s)?;
            if fcd_ema
                .or(fcd_live)
                .is_some_and(|f| self.opts.until_fcd.is_some_and(|x| f <= x))
            {
                end = it;
            }
            self.csv.append(&MetricsRow {
                iter: it,
                d_loss: Some(stats.d_loss),
                g_loss: Some(stats.g_loss),
                wasserstein: stats.wasserstein,
                d_acc_real: stats.acc_real,
                d_acc_fake: stats.acc_fake,
                grad_norm: stats.grad_norm,
                g_grad_norm: Some(stats.g_grad_norm),
                iters_per_s: Some(iters_per_s),
                elapsed_s: Some(elapsed_s),
                cpu_s: Some(cpu_s),
                fcd: fcd_live,
                fcd_ema,
            })?;
            self.bar.set_message(progress_message(&stats, fcd.last));
            self.bar.set_position(it);
            self.save_due_outputs(it, end)?;
        }
        self.finish(finished)
    }

    /// The error for a diverged step: logs are flushed, the last checkpoint is left alone.
    fn diverged(&mut self, e: crate::step::StepError) -> anyhow::Error {
        self.bar.abandon();
        if let Err(flush) = self.csv.flush() {
            return flush;
        }
        let ck = self.run.checkpoint();
        anyhow::anyhow!(
            "{e}. The last good checkpoint ({}) is left intact.",
            if ck.exists() {
                ck.display().to_string()
            } else {
                "none yet".into()
            }
        )
    }

    /// The sample grid and the checkpoint, when due at iteration `it` (and at the end).
    fn save_due_outputs(&mut self, it: u64, end: u64) -> anyhow::Result<()> {
        let cfg = &self.trainer.cfg;
        let (samples, checkpoint) = (
            it.is_multiple_of(cfg.sample_every) || it == end,
            it.is_multiple_of(cfg.checkpoint_every) || it == end,
        );
        if samples {
            self.save_samples()?;
        }
        if checkpoint {
            self.csv.flush()?;
            self.trainer.save(&self.run.checkpoint())?;
        }
        Ok(())
    }

    /// Writes the sample grid of the weights that export would use (the moving average when
    /// kept).
    fn save_samples(&self) -> anyhow::Result<()> {
        let t = &self.trainer;
        let out = try_generate(
            &t.sampling_generator(),
            &self.z_fixed,
            Some(&self.labels_fixed),
            &t.device.clone().inner(),
        )?;
        let path = self
            .run
            .samples()
            .join(format!("iter_{:07}.png", t.iteration));
        if t.cfg.preset.is_image() {
            report::save_grid_png(&path, &out, GRID_SAMPLES, 8)
        } else {
            let title = format!("iteration {}", t.iteration);
            report::save_scatter_png(&path, &out, &gaussians8_centers(), &title)
        }
    }

    /// The last checkpoint, the plot and the GIF; the summary.
    fn finish(mut self, finished: bool) -> anyhow::Result<RunSummary> {
        self.csv.flush()?;
        if self.trainer.iteration > self.start_iter {
            self.trainer.save(&self.run.checkpoint())?;
        }
        self.bar.finish();
        // Also when interrupted: a long run stopped with Ctrl-C keeps an up-to-date plot and GIF.
        finish_outputs(self.run.path())?;
        let done = self.trainer.iteration - self.start_iter;
        Ok(RunSummary {
            iteration: self.trainer.iteration,
            finished,
            iters_per_s: done as f64 / self.t0.elapsed().as_secs_f64().max(1e-9),
        })
    }
}

/// The progress bar's message: the step's figures and the last FCD.
fn progress_message(stats: &StepStats, fcd: Option<f64>) -> String {
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
    if let Some(f) = fcd {
        msg += &format!(" FCD {f:.2}");
    }
    msg
}

/// Writes the end-of-run artefacts: the animated GIF of sample grids and the loss plot.
pub fn finish_outputs(run_dir: &Path) -> anyhow::Result<()> {
    let run = RunDir::new(run_dir);
    let mut frames: Vec<PathBuf> = std::fs::read_dir(run.samples())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    frames.sort();
    if !frames.is_empty() {
        report::save_gif_from_pngs(&run_dir.join("samples.gif"), &frames, 50)?;
    }
    let rows = report::read_metrics(&run.metrics())?;
    if !rows.is_empty() {
        report::plot_losses(&rows, &run_dir.join("losses.png"))?;
    }
    Ok(())
}

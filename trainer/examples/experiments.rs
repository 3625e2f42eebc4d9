//! The experiments of `docs/experiments.md`, each writing CSV figures and PNG plots into OUT_DIR:
//!
//! ```text
//! experiments modes OUT_DIR [--iters N]          # mode coverage on gaussians8 over training
//! experiments inverse-cdf OUT_DIR [--steps N]    # a 1-D generator U[0,1] → N(0,1) vs Φ⁻¹
//! experiments js-vs-w OUT_DIR GAN_RUN WGAN_RUN   # critic signal vs FCD, from two runs' metrics
//! experiments study OUT_DIR RUN… [--fcd X]        # recipes at one CPU budget: FCD over CPU time
//! ```
//!
//! Build with the workspace (`cargo build --release --workspace --examples`), run
//! `$CARGO_TARGET_DIR/release/examples/experiments …`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softplus;
use clap::{Parser, Subcommand};
use trainer::config::TrainConfig;
use trainer::data::{Dataset, TrainData};
use trainer::data::{gaussians8_centers, gaussians8_modes_covered};
use trainer::model::{Preset, lrelu};
use trainer::objective::Loss;
use trainer::report::{XySeries, plot_xy, read_metrics, save_scatter_png};
use trainer::sample::fixed_noise;
use trainer::train::Trainer;

#[derive(Parser)]
#[command(about = "tinygan's experiments (docs/experiments.md)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Modes of gaussians8 covered over training by gan, ns-gan, wgan and wgan-gp.
    Modes {
        out: PathBuf,
        #[arg(long, default_value_t = 2000)]
        iters: u64,
    },
    /// Learn U[0,1] → N(0,1) with a 1-D generator and compare it with Φ⁻¹.
    InverseCdf {
        out: PathBuf,
        #[arg(long, default_value_t = 8000)]
        steps: usize,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        /// Hidden units of both networks.
        #[arg(long, default_value_t = 64)]
        width: usize,
    },
    /// Critic signal against FCD over training, from two runs trained with --eval-every.
    JsVsW {
        out: PathBuf,
        gan_run: PathBuf,
        wgan_run: PathBuf,
    },
    /// Training recipes side by side (scripts/recipe-study.sh), from runs trained with
    /// --cpu-budget and --eval-every-cpu: FCD over training CPU time, and when each first
    /// reaches `--fcd`. Each run is named by its directory.
    Study {
        out: PathBuf,
        /// Run directories (one per recipe).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The FCD level to reach.
        #[arg(long, default_value_t = 100.0)]
        fcd: f64,
        /// Plot title.
        #[arg(long, default_value = "Recipes on tiny: FCD over training CPU time")]
        title: String,
    },
}

const COLORS: [(u8, u8, u8); 10] = [
    (214, 39, 40),
    (255, 127, 14),
    (44, 160, 44),
    (31, 119, 180),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Modes { out, iters } => modes(&out, iters),
        Cmd::InverseCdf {
            out,
            steps,
            lr,
            width,
        } => inverse_cdf(&out, steps, lr, width),
        Cmd::JsVsW {
            out,
            gan_run,
            wgan_run,
        } => js_vs_w(&out, &gan_run, &wgan_run),
        Cmd::Study {
            out,
            runs,
            fcd,
            title,
        } => study(&out, &runs, fcd, &title),
    }
}

fn create(out: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let p = out.join(name);
    std::fs::File::create(&p).with_context(|| format!("cannot write {}", p.display()))
}

/// Experiment 2: every 100 iterations, 2 000 samples from fixed noise; a mode is covered when at
/// least 2% of them lie within 0.25 of its centre (`data::gaussians8_modes_covered`).
fn modes(out: &Path, iters: u64) -> anyhow::Result<()> {
    let every = 100;
    let mut csv = create(out, "modes.csv")?;
    writeln!(csv, "loss,iter,modes_covered,seconds")?;
    let mut series = Vec::new();
    let losses = [Loss::Gan, Loss::NsGan, Loss::Wgan, Loss::WganGp];
    for (loss, color) in losses.into_iter().zip(COLORS) {
        let mut optim = loss.default_optim();
        // The toy data wants a faster pace than MNIST's defaults; the same for every loss.
        optim.lr = 1e-3;
        let mut cfg = TrainConfig::new(Preset::Toy, loss, loss.default_n_critic(), optim)
            .with_dataset(Dataset::Gaussians8)
            .with_batch(256)
            .with_seed(7);
        if loss == Loss::WganGp {
            cfg.lambda = 0.1;
        }
        let mut t = Trainer::new(cfg, &Device::flex(), TrainData::Gaussians8)?;
        let z = fixed_noise(99, 2000, 2);
        let t0 = std::time::Instant::now();
        let mut points = Vec::new();
        for it in 1..=iters {
            t.step()?;
            if it % every == 0 || it == 1 {
                let (covered, _) = gaussians8_modes_covered(&t.generate(&z, None), 0.02);
                let s = t0.elapsed().as_secs_f64();
                writeln!(csv, "{},{it},{covered},{s:.2}", loss.name())?;
                points.push((it as f64, covered as f64));
            }
        }
        let last = points.last().map_or(0.0, |p| p.1);
        eprintln!(
            "{}: {last} of 8 modes after {iters} iterations",
            loss.name()
        );
        save_scatter_png(
            &out.join(format!("modes-{}.png", loss.name())),
            &t.generate(&z, None),
            &gaussians8_centers(),
            &format!("{} after {iters} iterations", loss.name()),
        )?;
        series.push(XySeries {
            name: loss.name().into(),
            color,
            points,
            points_only: false,
        });
    }
    plot_xy(
        &out.join("modes.png"),
        "gaussians8: modes covered (of 8) during training",
        "generator iteration",
        "modes covered",
        &series,
    )
}

/// A 1 → width → width → 1 LeakyReLU MLP.
#[derive(Module, Debug)]
struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    fn new(width: usize, device: &Device) -> Self {
        let dims = [1, width, width, 1];
        let layers = dims
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Mlp { layers }
    }

    fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            x = l.forward(x);
            if i < last {
                x = lrelu(x);
            }
        }
        x
    }
}

/// Φ⁻¹, the standard normal quantile (Acklam's rational approximation with one Halley step;
/// relative error below 1e-9 on (0, 1)).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step on Φ(x) − p.
    let e = 0.5 * erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// erfc with relative error below 1.2e-7 (Numerical Recipes' Chebyshev fit).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Standard normal CDF.
fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Experiment 3: NS-GAN with a 1-D generator fed u ~ U[0,1] and N(0,1) as data. In one dimension
/// the monotone map pushing U[0,1] onto N(0,1) is Φ⁻¹ (or u ↦ Φ⁻¹(1−u)); a generator that matches
/// the distribution and is monotone must be one of the two.
fn inverse_cdf(out: &Path, steps: usize, lr: f64, width: usize) -> anyhow::Result<()> {
    let device = Device::flex().autodiff();
    // Burn's random tensors (weights, u, data) follow the device seed.
    device.seed(11);
    let mut g = Mlp::new(width, &device);
    let mut d = Mlp::new(width, &device);
    let mut opt_g = AdamConfig::new().with_beta_1(0.5).init();
    let mut opt_d = AdamConfig::new().with_beta_1(0.5).init();
    let batch = 512;
    let mut csv = create(out, "inverse-cdf-training.csv")?;
    writeln!(csv, "step,d_loss,g_loss")?;
    for step in 1..=steps {
        let u = Tensor::<2>::random([batch, 1], Distribution::Uniform(0.0, 1.0), &device);
        let real = Tensor::<2>::random([batch, 1], Distribution::Normal(0.0, 1.0), &device);
        let fake = g.forward(u).detach();
        let s_real = d.forward(real).reshape([batch]);
        let s_fake = d.forward(fake).reshape([batch]);
        let d_loss = softplus(s_real.neg(), 1.0).mean() + softplus(s_fake, 1.0).mean();
        let grads = GradientsParams::from_grads(d_loss.backward(), &d);
        d = opt_d.step(lr, d, grads);

        let u = Tensor::<2>::random([batch, 1], Distribution::Uniform(0.0, 1.0), &device);
        let s = d.clone().no_grad().forward(g.forward(u)).reshape([batch]);
        let g_loss = softplus(s.neg(), 1.0).mean();
        let grads = GradientsParams::from_grads(g_loss.backward(), &g);
        g = opt_g.step(lr, g, grads);
        if step % 50 == 0 {
            let dl: f32 = d_loss.into_scalar::<f32>();
            let gl: f32 = g_loss.into_scalar::<f32>();
            writeln!(csv, "{step},{dl},{gl}")?;
        }
    }
    // G on a grid of u, against both monotone solutions.
    let m = 199;
    let grid: Vec<f32> = (1..=m).map(|i| i as f32 / (m + 1) as f32).collect();
    let gu: Vec<f32> = g
        .valid()
        .forward(Tensor::from_data(
            TensorData::new(grid.clone(), [m, 1]),
            &device.clone().inner(),
        ))
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let err = |flip: bool| -> (f64, f64) {
        let e: Vec<f64> = grid
            .iter()
            .zip(&gu)
            .map(|(&u, &y)| {
                let p = if flip { 1.0 - u as f64 } else { u as f64 };
                (y as f64 - normal_quantile(p)).abs()
            })
            .collect();
        let max = e.iter().copied().fold(0.0, f64::max);
        (max, e.iter().sum::<f64>() / e.len() as f64)
    };
    let (up, down) = (err(false), err(true));
    let flip = down.1 < up.1;
    let (max_err, mean_err) = if flip { down } else { up };
    // Kolmogorov–Smirnov distance of G(U) (20 000 draws) from N(0,1).
    let n = 20_000;
    let u = Tensor::<2>::random(
        [n, 1],
        Distribution::Uniform(0.0, 1.0),
        &device.clone().inner(),
    );
    let mut samples: Vec<f64> = g
        .valid()
        .forward(u)
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
        .into_iter()
        .map(f64::from)
        .collect();
    ensure!(
        samples.iter().all(|v| v.is_finite()),
        "the generator produced non-finite values"
    );
    samples.sort_by(f64::total_cmp);
    let ks = samples
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = normal_cdf(x);
            (f - i as f64 / n as f64)
                .abs()
                .max((f - (i + 1) as f64 / n as f64).abs())
        })
        .fold(0.0, f64::max);
    let mean = samples.iter().sum::<f64>() / n as f64;
    let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let mut summary = create(out, "inverse-cdf.txt")?;
    let text = format!(
        "generator and discriminator 1-{width}-{width}-1 LeakyReLU, NS-GAN, Adam {lr:e} β1 0.5, batch {batch}, {steps} steps\n\
         learned map: {} (closer to {})\n\
         |G(u) − target| on u = 0.005 … 0.995: max {max_err:.3}, mean {mean_err:.3}\n\
         G(U): mean {mean:.3}, variance {var:.3}, Kolmogorov–Smirnov distance to N(0,1) {ks:.4} (n = {n})\n",
        if flip { "decreasing" } else { "increasing" },
        if flip { "Φ⁻¹(1−u)" } else { "Φ⁻¹(u)" },
    );
    summary.write_all(text.as_bytes())?;
    eprint!("{text}");
    let target: Vec<(f64, f64)> = grid
        .iter()
        .map(|&u| {
            let p = if flip { 1.0 - u as f64 } else { u as f64 };
            (u as f64, normal_quantile(p))
        })
        .collect();
    let learned: Vec<(f64, f64)> = grid
        .iter()
        .zip(&gu)
        .map(|(&u, &y)| (u as f64, y as f64))
        .collect();
    plot_xy(
        &out.join("inverse-cdf.png"),
        "U[0,1] → N(0,1): the learned generator and the inverse normal CDF",
        "u",
        "G(u)",
        &[
            XySeries {
                name: if flip {
                    "Φ⁻¹(1−u)".into()
                } else {
                    "Φ⁻¹(u)".into()
                },
                color: (150, 150, 150),
                points: target,
                points_only: false,
            },
            XySeries {
                name: "generator".into(),
                color: (214, 39, 40),
                points: learned,
                points_only: false,
            },
        ],
    )
}

/// Pearson correlation.
fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Experiment 1: at every iteration with an FCD, the critic's signal averaged over the preceding
/// `window` iterations (D loss and accuracy for `gan`, the Wasserstein estimate for `wgan-gp`),
/// then Pearson correlations with FCD and plots of each signal against FCD.
fn js_vs_w(out: &Path, gan_run: &Path, wgan_run: &Path) -> anyhow::Result<()> {
    let window = 50;
    let signal = |run: &Path, get: fn(&trainer::report::MetricsRow) -> Option<f64>| {
        let rows = read_metrics(&run.join("metrics.csv"))?;
        let mut pts = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let Some(fcd) = r.fcd else { continue };
            let lo = i.saturating_sub(window - 1);
            let vals: Vec<f64> = rows[lo..=i].iter().filter_map(get).collect();
            if !vals.is_empty() {
                pts.push((r.iter, fcd, vals.iter().sum::<f64>() / vals.len() as f64));
            }
        }
        ensure!(
            pts.len() >= 3,
            "{}: fewer than 3 FCD measurements; train with --eval-every",
            run.display()
        );
        Ok::<_, anyhow::Error>(pts)
    };
    let d_loss = signal(gan_run, |r| r.d_loss)?;
    let d_acc = signal(gan_run, |r| {
        r.d_acc_real.zip(r.d_acc_fake).map(|(a, b)| (a + b) / 2.0)
    })?;
    let west = signal(wgan_run, |r| r.wasserstein)?;
    let corr = |p: &[(u64, f64, f64)]| {
        let f: Vec<f64> = p.iter().map(|x| x.1).collect();
        let s: Vec<f64> = p.iter().map(|x| x.2).collect();
        pearson(&f, &s)
    };
    let mut csv = create(out, "js-vs-w.csv")?;
    writeln!(csv, "run,iter,fcd,signal,value")?;
    for (name, pts) in [
        ("gan d_loss", &d_loss),
        ("gan d_acc", &d_acc),
        ("wgan-gp wasserstein", &west),
    ] {
        for (it, f, v) in pts.iter() {
            writeln!(csv, "{name},{it},{f},{v}")?;
        }
    }
    let text = format!(
        "Pearson correlation with FCD over training (signal = mean of the last {window} iterations):\n\
         gan      D loss            r = {:+.3} ({} points, {})\n\
         gan      D accuracy        r = {:+.3}; last value {:.3}\n\
         wgan-gp  W estimate        r = {:+.3} ({} points, {})\n",
        corr(&d_loss),
        d_loss.len(),
        gan_run.display(),
        corr(&d_acc),
        d_acc.last().map_or(f64::NAN, |p| p.2),
        corr(&west),
        west.len(),
        wgan_run.display(),
    );
    create(out, "js-vs-w.txt")?.write_all(text.as_bytes())?;
    eprint!("{text}");
    let xy = |p: &[(u64, f64, f64)]| p.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>();
    plot_xy(
        &out.join("gan-vs-fcd.png"),
        "gan: discriminator loss and accuracy against FCD",
        "FCD (lower = better samples)",
        "D loss / D accuracy",
        &[
            XySeries {
                name: "D loss".into(),
                color: COLORS[0],
                points: xy(&d_loss),
                points_only: true,
            },
            XySeries {
                name: "D accuracy".into(),
                color: COLORS[3],
                points: xy(&d_acc),
                points_only: true,
            },
        ],
    )?;
    plot_xy(
        &out.join("wgan-gp-vs-fcd.png"),
        "wgan-gp: the critic's Wasserstein estimate against FCD",
        "FCD (lower = better samples)",
        "E[f(real)] − E[f(fake)]",
        &[XySeries {
            name: "Wasserstein estimate".into(),
            color: COLORS[2],
            points: xy(&west),
            points_only: true,
        }],
    )
}

/// Experiment 4: per run, its variant (from `config.json`), seconds per iteration, final and best
/// FCD, and the first evaluation at which FCD ≤ `level` (iteration and training time; the time
/// includes the FCD evaluations themselves, the same ≈ 1.5 s each for every variant).
/// One recipe's FCD measurements: (training CPU seconds, generator iteration, FCD).
struct Curve {
    name: String,
    points: Vec<(f64, u64, f64)>,
}

/// Reads a study run: its FCD (of the averaged weights where kept) against training CPU time.
fn curve(run: &Path) -> anyhow::Result<Curve> {
    let name = run
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| run.display().to_string());
    let rows = read_metrics(&run.join("metrics.csv"))?;
    let points: Vec<(f64, u64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.cpu_s?, r.iter, r.fcd_ema.or(r.fcd)?)))
        .collect();
    ensure!(
        !points.is_empty(),
        "{}: no FCD measurements with CPU time; train with --eval-every-cpu",
        run.display()
    );
    Ok(Curve { name, points })
}

/// The recipe study: FCD against training CPU time for runs trained to one CPU budget, as a
/// plot, a CSV of every point and a Markdown table (sorted by FCD at the budget).
fn study(out: &Path, runs: &[PathBuf], level: f64, title: &str) -> anyhow::Result<()> {
    let curves = runs
        .iter()
        .map(|r| curve(r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut csv = create(out, "study.csv")?;
    writeln!(csv, "recipe,cpu_s,iter,fcd")?;
    for c in &curves {
        for (t, it, f) in &c.points {
            writeln!(csv, "{},{t},{it},{f}", c.name)?;
        }
    }
    let mut order: Vec<&Curve> = curves.iter().collect();
    let last_fcd = |c: &Curve| c.points.last().expect("non-empty").2;
    order.sort_by(|a, b| last_fcd(a).total_cmp(&last_fcd(b)));
    let mut md = format!(
        "| recipe | generator iterations | CPU s | FCD at the end | best FCD | CPU s to FCD ≤ {level} |\n\
         |---|---|---|---|---|---|\n"
    );
    for c in &order {
        let (t, it, f) = *c.points.last().expect("non-empty");
        let best = c.points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
        let hit = c.points.iter().find(|p| p.2 <= level);
        md += &format!(
            "| {} | {it} | {t:.0} | {f:.1} | {best:.1} | {} |\n",
            c.name,
            hit.map_or("not reached".into(), |h| format!("{:.0}", h.0)),
        );
    }
    create(out, "study.md")?.write_all(md.as_bytes())?;
    print!("{md}");
    let series: Vec<XySeries> = curves
        .iter()
        .enumerate()
        .map(|(k, c)| XySeries {
            name: c.name.clone(),
            color: COLORS[k % COLORS.len()],
            points: c
                .points
                .iter()
                .map(|p| (p.0, p.2.max(1.0).log10()))
                .collect(),
            points_only: false,
        })
        .collect();
    plot_xy(
        &out.join("study.png"),
        title,
        "training CPU time [s] (process, all threads)",
        "log10 FCD (n = 1000, averaged weights)",
        &series,
    )
}

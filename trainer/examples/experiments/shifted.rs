//! JS against W in one dimension (the "shifted distributions" example of WGAN's paper): real data
//! `N(0, σ²)` with a small σ, generated data the same shape shifted to θ. For each θ a
//! discriminator (minimax GAN loss) and a WGAN-GP critic are trained to convergence against the
//! fixed pair; their estimates of JS and W and the gradient each hands the generator (∂/∂θ of
//! the generator's loss) are measured on fresh samples, beside the analytic curves.

use std::io::Write;
use std::path::Path;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softplus};
use trainer::report::{XySeries, plot_xy};

use crate::onedim::{Mlp, normal, normal_pdf, scalar, spread, uniform};
use crate::{COLORS, create};

/// Width of the data and of the shifted copy.
const SIGMA: f64 = 0.05;
/// The shifts measured.
const THETAS: [f64; 12] = [
    0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 1.5, 2.0, 3.0,
];
/// Training steps of each discriminator / critic.
const STEPS: usize = 1000;
const BATCH: usize = 256;
const WIDTH: usize = 32;
/// Samples per evaluation.
const EVAL_N: usize = 20_000;
/// WGAN-GP's penalty weight.
const LAMBDA: f64 = 10.0;

/// One trained pair's figures at one θ.
struct Point {
    seed: u64,
    theta: f64,
    js: f64,
    js_grad: f64,
    w: f64,
    w_grad: f64,
    w_lp: f64,
    w_lp_grad: f64,
}

/// Runs the sweep for `seeds` seeds and writes shifted.csv, shifted.md and two plots into `out`.
pub fn run(out: &Path, seeds: u64) -> anyhow::Result<()> {
    let mut points = Vec::new();
    for seed in 0..seeds {
        for (i, &theta) in THETAS.iter().enumerate() {
            let p = measure(theta, seed * 100 + i as u64)?;
            eprintln!(
                "seed {seed} θ {theta:5.3}: JS {:.4} ∂θ {:+.3e}   W(GP) {:+.4} ∂θ {:+.3}   W(LP) {:+.4} ∂θ {:+.3}",
                p.js, p.js_grad, p.w, p.w_grad, p.w_lp, p.w_lp_grad
            );
            points.push(Point { seed, ..p });
        }
    }
    let mut csv = create(out, "shifted.csv")?;
    writeln!(
        csv,
        "source,seed,theta,js,js_g_grad,w_gp,w_gp_g_grad,w_lp,w_lp_g_grad"
    )?;
    for p in &points {
        writeln!(
            csv,
            "trained,{},{},{},{},{},{},{},{}",
            p.seed, p.theta, p.js, p.js_grad, p.w, p.w_grad, p.w_lp, p.w_lp_grad
        )?;
    }
    for &theta in &THETAS {
        let (js, js_grad) = analytic_js(theta);
        // With the optimal D the minimax generator loss is 2·JS − log 4.
        let (w, w_grad) = (theta.abs(), if theta == 0.0 { 0.0 } else { 1.0 });
        writeln!(
            csv,
            "analytic,,{theta},{js},{},{w},{w_grad},{w},{w_grad}",
            2.0 * js_grad
        )?;
    }
    summary(out, &points, seeds)?;
    plots(out, &points)
}

/// Trains both critics against the pair (0, θ) and measures them.
fn measure(theta: f64, seed: u64) -> anyhow::Result<Point> {
    let device = Device::flex().autodiff();
    device.seed(seed);
    let eval = device.clone().inner();

    // The discriminator: minimax GAN loss, D = sigmoid(s).
    let mut d = Mlp::new(WIDTH, &device);
    let mut opt = AdamConfig::new().with_beta_1(0.5).init();
    for _ in 0..STEPS {
        let s_real = d.forward(normal(BATCH, 0.0, SIGMA, &device));
        let s_fake = d.forward(normal(BATCH, theta, SIGMA, &device));
        let loss = softplus(s_real.neg(), 1.0).mean() + softplus(s_fake, 1.0).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &d);
        d = opt.step(1e-3, d, grads);
    }
    let d = d.valid();
    let s_real = d.forward(normal(EVAL_N, 0.0, SIGMA, &eval));
    let (s_fake, ds_fake) = d.forward_with_input_grad(normal(EVAL_N, theta, SIGMA, &eval), true);
    let ds_fake = ds_fake.expect("asked for the input gradient");
    // JS ≈ log 2 + ½(E log D(x) + E log(1 − D(G))), with log D = −softplus(−s).
    let js = std::f64::consts::LN_2
        + 0.5
            * (scalar(softplus(s_real.neg(), 1.0).neg().mean())
                + scalar(softplus(s_fake.clone(), 1.0).neg().mean()));
    // The generator's minimax loss E log(1 − D(θ + ε)); its θ-derivative −E σ(s)·s'.
    let js_grad = scalar((sigmoid(s_fake) * ds_fake).neg().mean());

    let (w, w_grad) = train_critic(theta, Penalty::TwoSided, &device)?;
    let (w_lp, w_lp_grad) = train_critic(theta, Penalty::OneSidedLinear, &device)?;
    anyhow::ensure!(
        [js, js_grad, w, w_grad, w_lp, w_lp_grad]
            .iter()
            .all(|v| v.is_finite()),
        "θ = {theta}: a critic diverged"
    );
    Ok(Point {
        seed,
        theta,
        js,
        js_grad,
        w,
        w_grad,
        w_lp,
        w_lp_grad,
    })
}

/// The critic's gradient penalty on interpolates.
#[derive(Clone, Copy)]
enum Penalty {
    /// WGAN-GP: `(|f'| − 1)²`.
    TwoSided,
    /// Su's one-sided linear penalty `max(|f'|, 1)` (`--loss wgan-lp`).
    OneSidedLinear,
}

/// Trains a WGAN critic with `penalty` against the pair (0, θ); returns its estimate
/// `E f(real) − E f(fake)` and the generator loss's θ-derivative `−E f'(θ + ε)`.
fn train_critic(theta: f64, penalty: Penalty, device: &Device) -> anyhow::Result<(f64, f64)> {
    let mut f = Mlp::new(WIDTH, device);
    let mut opt = AdamConfig::new().with_beta_1(0.5).with_beta_2(0.9).init();
    for _ in 0..STEPS {
        let real = normal(BATCH, 0.0, SIGMA, device);
        let fake = normal(BATCH, theta, SIGMA, device);
        let a = uniform(BATCH, device);
        let mixed = real.clone() * a.clone() + fake.clone() * a.neg().add_scalar(1.0);
        let slope = f
            .forward_with_input_grad(mixed, true)
            .1
            .expect("asked for the input gradient")
            .abs();
        let pen = match penalty {
            Penalty::TwoSided => slope.sub_scalar(1.0).powi_scalar(2).mean(),
            Penalty::OneSidedLinear => slope.clamp_min(1.0).mean(),
        };
        let loss = f.forward(fake).mean() - f.forward(real).mean() + pen.mul_scalar(LAMBDA);
        let grads = GradientsParams::from_grads(loss.backward(), &f);
        f = opt.step(1e-3, f, grads);
    }
    let f = f.valid();
    let eval = device.clone().inner();
    let f_real = f.forward(normal(EVAL_N, 0.0, SIGMA, &eval));
    let (f_fake, df_fake) = f.forward_with_input_grad(normal(EVAL_N, theta, SIGMA, &eval), true);
    let w = scalar(f_real.mean()) - scalar(f_fake.mean());
    let w_grad = scalar(df_fake.expect("asked for the input gradient").neg().mean());
    Ok((w, w_grad))
}

/// JS(N(0, σ²), N(θ, σ²)) by the trapezoid rule, and its θ-derivative by central differences.
fn analytic_js(theta: f64) -> (f64, f64) {
    let js = |t: f64| {
        let (lo, hi) = (t.min(0.0) - 12.0 * SIGMA, t.max(0.0) + 12.0 * SIGMA);
        let n = 20_000;
        let h = (hi - lo) / n as f64;
        let term = |p: f64, m: f64| if p > 0.0 { p * (p / m).ln() } else { 0.0 };
        (0..=n)
            .map(|i| {
                let x = lo + i as f64 * h;
                let (p, q) = (normal_pdf(x, 0.0, SIGMA), normal_pdf(x, t, SIGMA));
                let m = 0.5 * (p + q);
                let w = if i == 0 || i == n { 0.5 } else { 1.0 };
                w * 0.5 * (term(p, m) + term(q, m)) * h
            })
            .sum::<f64>()
    };
    let h = 1e-4;
    (js(theta), (js(theta + h) - js(theta - h)) / (2.0 * h))
}

/// shifted.md: per θ the analytic values and the trained ones (mean and range over seeds), and
/// how many critics point the generator the wrong way (∂/∂θ < 0 for θ > 0).
fn summary(out: &Path, points: &[Point], seeds: u64) -> anyhow::Result<()> {
    let mut md = create(out, "shifted.md")?;
    writeln!(
        md,
        "Real N(0, {SIGMA}²), generated N(θ, {SIGMA}²); per θ and seed a 1-{WIDTH}-{WIDTH}-1 MLP trained \
         {STEPS} Adam steps (batch {BATCH}, λ = {LAMBDA}); figures on {EVAL_N} fresh samples; mean [min, max] \
         over {seeds} seeds. ∂/∂θ is the derivative of the generator's loss: positive pulls the \
         generated data towards the real data.\n"
    )?;
    writeln!(
        md,
        "| θ | JS analytic | JS from trained D | minimax ∂/∂θ, optimal D | minimax ∂/∂θ, trained D | W = θ | W, WGAN-GP critic | ∂/∂θ, WGAN-GP | W, one-sided (Su) critic | ∂/∂θ, one-sided |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|")?;
    let f3 = |v: (f64, f64, f64)| format!("{:.3} [{:.3}, {:.3}]", v.0, v.1, v.2);
    let e2 = |v: (f64, f64, f64)| format!("{:.2e} [{:.2e}, {:.2e}]", v.0, v.1, v.2);
    for &theta in &THETAS {
        let at: Vec<&Point> = points.iter().filter(|p| p.theta == theta).collect();
        let col = |get: fn(&Point) -> f64| spread(&at.iter().map(|p| get(p)).collect::<Vec<_>>());
        let (ajs, ajs_g) = analytic_js(theta);
        writeln!(
            md,
            "| {theta} | {ajs:.4} | {} | {:.2e} | {} | {theta} | {} | {} | {} | {} |",
            f3(col(|p| p.js)),
            2.0 * ajs_g,
            e2(col(|p| p.js_grad)),
            f3(col(|p| p.w)),
            f3(col(|p| p.w_grad)),
            f3(col(|p| p.w_lp)),
            f3(col(|p| p.w_lp_grad)),
        )?;
    }
    let wrong = |get: fn(&Point) -> f64| {
        points
            .iter()
            .filter(|p| p.theta > 0.0 && get(p) < 0.0)
            .count()
    };
    let n = points.iter().filter(|p| p.theta > 0.0).count();
    writeln!(
        md,
        "\nCritics that push the generator away from the data (∂/∂θ < 0, θ > 0): minimax D {} of {n}, \
         WGAN-GP {} of {n}, one-sided {} of {n}.",
        wrong(|p| p.js_grad),
        wrong(|p| p.w_grad),
        wrong(|p| p.w_lp_grad)
    )?;
    Ok(())
}

fn plots(out: &Path, points: &[Point]) -> anyhow::Result<()> {
    let fine: Vec<f64> = (1..=120).map(|i| i as f64 * 0.025).collect();
    let line = |name: &str, color, pts: Vec<(f64, f64)>| XySeries {
        name: name.into(),
        color,
        points: pts,
        points_only: false,
    };
    let dots = |name: &str, color, get: &dyn Fn(&Point) -> f64| XySeries {
        name: name.into(),
        color,
        points: points.iter().map(|p| (p.theta, get(p))).collect(),
        points_only: true,
    };
    plot_xy(
        &out.join("shifted-estimates.png"),
        "Real N(0, 0.05²) vs generated N(θ, 0.05²): what the critics estimate",
        "shift θ",
        "estimate",
        &[
            line(
                "JS (analytic)",
                (150, 150, 150),
                fine.iter().map(|&t| (t, analytic_js(t).0)).collect(),
            ),
            dots("JS from a trained D (each seed)", COLORS[0], &|p| p.js),
            line(
                "W = θ (analytic)",
                (60, 60, 60),
                fine.iter().map(|&t| (t, t)).collect(),
            ),
            dots("W, WGAN-GP critic (each seed)", COLORS[3], &|p| p.w),
            dots("W, one-sided critic (each seed)", COLORS[2], &|p| p.w_lp),
        ],
    )?;
    let log = |v: f64| v.abs().log10();
    plot_xy(
        &out.join("shifted-gradients.png"),
        "The gradient the generator gets: log10 |∂ loss / ∂θ|",
        "shift θ",
        "log10 |∂ generator loss / ∂θ|",
        &[
            line(
                "minimax GAN, optimal D (analytic)",
                (150, 150, 150),
                fine.iter()
                    .map(|&t| (t, log(2.0 * analytic_js(t).1)))
                    .filter(|p| p.1 > -8.0)
                    .collect(),
            ),
            dots("minimax GAN, trained D (each seed)", COLORS[0], &|p| {
                log(p.js_grad)
            }),
            line(
                "WGAN (analytic): 1",
                (60, 60, 60),
                fine.iter().map(|&t| (t, 0.0)).collect(),
            ),
            dots("WGAN-GP critic (each seed)", COLORS[3], &|p| log(p.w_grad)),
            dots("one-sided critic (each seed)", COLORS[2], &|p| {
                log(p.w_lp_grad)
            }),
        ],
    )
}

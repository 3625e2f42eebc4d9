//! The optimal discriminator in one dimension: for fixed p_data and p_g, a discriminator trained
//! with the GAN loss should approach D*(x) = p_data(x) / (p_data(x) + p_g(x)).
//! p_data = ½N(−1.5, 0.5²) + ½N(1.5, 0.5²) (two modes), p_g = N(0, 1) (one wide mode between them).

use std::io::Write;
use std::path::Path;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softplus};
use trainer::report::{XySeries, plot_xy};

use crate::onedim::{Mlp, column, normal, normal_pdf, spread, values};
use crate::{COLORS, create};

const STEPS: usize = 3000;
const BATCH: usize = 512;
const WIDTH: usize = 64;
/// The evaluation grid: x from −4 to 4.
const GRID: usize = 161;

fn p_data(x: f64) -> f64 {
    0.5 * normal_pdf(x, -1.5, 0.5) + 0.5 * normal_pdf(x, 1.5, 0.5)
}

fn p_g(x: f64) -> f64 {
    normal_pdf(x, 0.0, 1.0)
}

/// D*(x).
fn optimal(x: f64) -> f64 {
    p_data(x) / (p_data(x) + p_g(x))
}

/// Trains `seeds` discriminators and writes optimal-d.csv, optimal-d.md and optimal-d.png.
pub fn run(out: &Path, seeds: u64) -> anyhow::Result<()> {
    let grid: Vec<f64> = (0..GRID)
        .map(|i| -4.0 + 8.0 * i as f64 / (GRID - 1) as f64)
        .collect();
    let mut curves = Vec::new();
    for seed in 0..seeds {
        let device = Device::flex().autodiff();
        device.seed(1000 + seed);
        let mut d = Mlp::new(WIDTH, &device);
        let mut opt = AdamConfig::new().with_beta_1(0.5).init();
        for _ in 0..STEPS {
            let real = data_batch(BATCH, &device);
            let fake = normal(BATCH, 0.0, 1.0, &device);
            let loss =
                softplus(d.forward(real).neg(), 1.0).mean() + softplus(d.forward(fake), 1.0).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &d);
            d = opt.step(1e-3, d, grads);
        }
        let eval = device.inner();
        let dx = values(sigmoid(d.valid().forward(column(&grid, &eval))))?;
        curves.push(dx);
    }

    let mut csv = create(out, "optimal-d.csv")?;
    writeln!(csv, "x,optimal,seed,trained")?;
    for (seed, c) in curves.iter().enumerate() {
        for (&x, &dx) in grid.iter().zip(c) {
            writeln!(csv, "{x},{},{seed},{dx}", optimal(x))?;
        }
    }
    // Errors weighted by where the two distributions put their mass: E over ½(p_data + p_g), and
    // the largest error where that mixture's density is at least 0.05.
    let errors: Vec<(f64, f64)> = curves
        .iter()
        .map(|c| {
            let mut num = 0.0;
            let mut den = 0.0;
            let mut max: f64 = 0.0;
            for (&x, &dx) in grid.iter().zip(c) {
                let m = 0.5 * (p_data(x) + p_g(x));
                let e = (dx - optimal(x)).abs();
                num += m * e;
                den += m;
                if m >= 0.05 {
                    max = max.max(e);
                }
            }
            (num / den, max)
        })
        .collect();
    let mean_err = spread(&errors.iter().map(|e| e.0).collect::<Vec<_>>());
    let max_err = spread(&errors.iter().map(|e| e.1).collect::<Vec<_>>());
    let mut md = create(out, "optimal-d.md")?;
    writeln!(
        md,
        "p_data = ½N(−1.5, 0.5²) + ½N(1.5, 0.5²), p_g = N(0, 1); D a 1-{WIDTH}-{WIDTH}-1 LeakyReLU MLP, \
         GAN loss, {STEPS} Adam steps (1e-3, β1 0.5), batch {BATCH}; {} seeds, mean [min, max].\n\n\
         | figure | value |\n|---|---|\n\
         | mean \\|D − D*\\| under ½(p_data + p_g) | {:.4} [{:.4}, {:.4}] |\n\
         | max \\|D − D*\\| where ½(p_data + p_g) ≥ 0.05 | {:.4} [{:.4}, {:.4}] |",
        curves.len(),
        mean_err.0,
        mean_err.1,
        mean_err.2,
        max_err.0,
        max_err.1,
        max_err.2
    )?;
    let mut series = vec![XySeries {
        name: "D* = p_data / (p_data + p_g)".into(),
        color: (60, 60, 60),
        points: grid.iter().map(|&x| (x, optimal(x))).collect(),
        points_only: false,
    }];
    for (seed, c) in curves.iter().enumerate() {
        series.push(XySeries {
            name: format!("trained D, seed {seed}"),
            color: COLORS[seed % COLORS.len()],
            points: grid.iter().copied().zip(c.iter().copied()).collect(),
            points_only: true,
        });
    }
    series.push(XySeries {
        name: "density p_data".into(),
        color: (120, 120, 120),
        points: grid.iter().map(|&x| (x, p_data(x))).collect(),
        points_only: false,
    });
    series.push(XySeries {
        name: "density p_g".into(),
        color: (190, 190, 190),
        points: grid.iter().map(|&x| (x, p_g(x))).collect(),
        points_only: false,
    });
    plot_xy(
        &out.join("optimal-d.png"),
        "A trained discriminator against the optimal D*",
        "x",
        "D(x)",
        &series,
    )
}

/// Draws from the two-mode data distribution.
fn data_batch(n: usize, device: &Device) -> Tensor<2> {
    let side = normal(n, 0.0, 1.0, device)
        .greater_elem(0.0)
        .float()
        .mul_scalar(3.0)
        .sub_scalar(1.5);
    side + normal(n, 0.0, 0.5, device)
}

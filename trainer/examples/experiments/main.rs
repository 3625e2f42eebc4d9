//! The experiments of `docs/experiments.md`, each writing its CSV figures, a Markdown table
//! computed from them and PNG plots into OUT_DIR (`scripts/experiments.sh` runs them all):
//!
//! ```text
//! experiments shifted OUT_DIR [--seeds N]               # JS vs W on shifted 1-D distributions
//! experiments optimal-d OUT_DIR [--seeds N]             # a trained D against p_data/(p_data + p_g)
//! experiments saturation OUT_DIR [--seeds N] [--iters N] # minimax vs non-saturating ‖∇G‖ on MNIST
//! experiments modes OUT_DIR [--seeds N] [--iters N]      # mode collapse on gaussians8
//! experiments inverse-cdf OUT_DIR [--seeds N] [--steps N] # a 1-D generator U[0,1] → N(0,1) vs Φ⁻¹
//! experiments study OUT_DIR RUN… [--fcd X]               # recipes at one CPU budget: FCD over CPU time
//! ```
//!
//! Build with the workspace (`cargo build --release --workspace --all-targets`), run
//! `$CARGO_TARGET_DIR/release/examples/experiments …`.

mod inverse_cdf;
mod modes;
mod onedim;
mod optimal_d;
mod saturation;
mod shifted;
mod study;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "tinygan's experiments (docs/experiments.md)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// JS vs W in 1-D: a trained discriminator's and a WGAN-GP critic's estimates and generator
    /// gradients as the generated distribution moves away from the data.
    Shifted {
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        seeds: u64,
    },
    /// A discriminator trained on fixed 1-D distributions against the optimal D*.
    OptimalD {
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        seeds: u64,
    },
    /// The generator's gradient norm early in training on MNIST, gan vs ns-gan.
    Saturation {
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        #[arg(long, default_value_t = 200)]
        iters: u64,
    },
    /// Modes of gaussians8 covered, and blur/divergence told apart, per objective.
    Modes {
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        #[arg(long, default_value_t = 5000)]
        iters: u64,
    },
    /// Learn U[0,1] → N(0,1) with a 1-D generator; KS test and monotonicity.
    InverseCdf {
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        #[arg(long, default_value_t = 40_000)]
        steps: usize,
        #[arg(long, default_value_t = 2048)]
        batch: usize,
        /// Decay of the generator's weight average.
        #[arg(long, default_value_t = 0.9995)]
        ema: f64,
        /// Learning rate at the end of the cosine decay from 1e-3.
        #[arg(long, default_value_t = 1e-4)]
        lr_min: f64,
        /// R1 weight γ of the discriminator (5 chosen over 1 and 0.1: docs/experiments.md §5).
        #[arg(long, default_value_t = 5.0)]
        gamma: f64,
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

/// Series colours of the plots.
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
        Cmd::Shifted { out, seeds } => shifted::run(&out, seeds),
        Cmd::OptimalD { out, seeds } => optimal_d::run(&out, seeds),
        Cmd::Saturation { out, seeds, iters } => saturation::run(&out, seeds, iters),
        Cmd::Modes { out, seeds, iters } => modes::run(&out, seeds, iters),
        Cmd::InverseCdf {
            out,
            seeds,
            steps,
            batch,
            ema,
            lr_min,
            gamma,
        } => inverse_cdf::run(
            &out,
            seeds,
            inverse_cdf::Settings {
                steps,
                batch,
                ema,
                lr_min,
                gamma,
            },
        ),
        Cmd::Study {
            out,
            runs,
            fcd,
            title,
        } => study::run(&out, &runs, fcd, &title),
    }
}

/// Creates `out/name` (and `out`).
fn create(out: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let p = out.join(name);
    std::fs::File::create(&p).with_context(|| format!("cannot write {}", p.display()))
}

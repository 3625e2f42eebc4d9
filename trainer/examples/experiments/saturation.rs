//! Saturating against non-saturating generator loss on MNIST: the norm of the generator's
//! gradient (over all its parameters) at each of the first iterations, for `gan` (minimax,
//! `log(1 − D(G(z)))`) and `ns-gan` (`−log D(G(z))`), same seeds, each at its own recommended
//! settings, `tiny` preset. Early in training D rejects the fakes confidently, where the minimax
//! loss is flat: its gradient should be much smaller.

use std::io::Write;
use std::path::Path;

use burn::prelude::*;
use trainer::config::TrainConfig;
use trainer::data::TrainData;
use trainer::data::{Split, load_mnist, resolve_data_dir};
use trainer::model::Preset;
use trainer::objective::{Loss, Recipe};
use trainer::report::{XySeries, plot_xy};
use trainer::train::Trainer;

use crate::onedim::spread;
use crate::{COLORS, create};

/// The first iterations are where the two losses differ; split into an early and a later window.
const EARLY: u64 = 50;

/// Per (loss, seed): the generator's gradient norm and D's accuracy on fakes, per iteration.
struct Trace {
    loss: Loss,
    seed: u64,
    rows: Vec<(u64, f64, f64)>,
}

/// Trains `gan` and `ns-gan` for `iters` iterations with `seeds` seeds; writes
/// saturation.{csv,md,png}.
pub fn run(out: &Path, seeds: u64, iters: u64) -> anyhow::Result<()> {
    let dir = resolve_data_dir(None);
    let mnist = load_mnist(&dir, Split::Train)?;
    let mut traces = Vec::new();
    for loss in [Loss::Gan, Loss::NsGan] {
        for seed in 0..seeds {
            let r = Recipe::of(loss);
            let cfg = TrainConfig::new(Preset::Tiny, loss, r.n_critic, r.optim)
                .with_seed(seed)
                .with_iters(iters);
            let data = TrainData::Images {
                images: mnist.images.clone(),
                labels: mnist.labels.clone(),
            };
            let mut t = Trainer::new(cfg, &Device::flex(), data)?;
            let mut rows = Vec::new();
            for it in 1..=iters {
                let s = t.step()?;
                rows.push((it, s.g_grad_norm, s.acc_fake.unwrap_or(f64::NAN)));
            }
            eprintln!(
                "{} seed {seed}: generator gradient norm at iteration 1 {:.3e}, median of the first {EARLY} {:.3e}",
                loss.name(),
                rows[0].1,
                median(rows.iter().take(EARLY as usize).map(|r| r.1))
            );
            traces.push(Trace { loss, seed, rows });
        }
    }
    let mut csv = create(out, "saturation.csv")?;
    writeln!(csv, "loss,seed,iter,g_grad_norm,d_acc_fake")?;
    for t in &traces {
        for (it, g, acc) in &t.rows {
            writeln!(csv, "{},{},{it},{g},{acc}", t.loss.name(), t.seed)?;
        }
    }
    let mut md = create(out, "saturation.md")?;
    writeln!(
        md,
        "`tiny` on MNIST, each loss at its own defaults (Adam 2e-4, β1 0.5, batch 64), {seeds} seeds; \
         per seed the median over the window, then mean [min, max] over seeds.\n\n\
         | loss | ‖∇G‖ iterations 1–{EARLY} | ‖∇G‖ iterations {}–{iters} | D accuracy on fakes 1–{EARLY} |\n|---|---|---|---|",
        EARLY + 1
    )?;
    for loss in [Loss::Gan, Loss::NsGan] {
        let of = |lo: u64, hi: u64, col: fn(&(u64, f64, f64)) -> f64| {
            let per_seed: Vec<f64> = traces
                .iter()
                .filter(|t| t.loss == loss)
                .map(|t| median(t.rows.iter().filter(|r| r.0 >= lo && r.0 <= hi).map(col)))
                .collect();
            spread(&per_seed)
        };
        let (early, late, acc) = (
            of(1, EARLY, |r| r.1),
            of(EARLY + 1, iters, |r| r.1),
            of(1, EARLY, |r| r.2),
        );
        writeln!(
            md,
            "| {} | {:.3e} [{:.3e}, {:.3e}] | {:.3e} [{:.3e}, {:.3e}] | {:.3} [{:.3}, {:.3}] |",
            loss.name(),
            early.0,
            early.1,
            early.2,
            late.0,
            late.1,
            late.2,
            acc.0,
            acc.1,
            acc.2
        )?;
    }
    let series: Vec<XySeries> = traces
        .iter()
        .map(|t| XySeries {
            name: format!("{} seed {}", t.loss.name(), t.seed),
            color: COLORS[if t.loss == Loss::Gan { 0 } else { 3 } + t.seed as usize % 3],
            points: t.rows.iter().map(|r| (r.0 as f64, r.1.log10())).collect(),
            points_only: false,
        })
        .collect();
    plot_xy(
        &out.join("saturation.png"),
        "MNIST, tiny: generator gradient norm, gan vs ns-gan",
        "generator iteration",
        "log10 ‖∇G loss‖",
        &series,
    )
}

fn median(v: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = v.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

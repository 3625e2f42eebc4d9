//! Mode collapse on `gaussians8`: each objective at the settings a user gets by default
//! (`tinygan train --preset toy --loss L`), several seeds. Every 100 iterations, 2 000 samples
//! from fixed noise are scored three ways, which together tell the failure modes apart:
//! - modes covered: modes holding ≥ 2% of the samples within 0.25 of their centre;
//! - high-quality share: samples within 0.25 of some centre (low = blur or divergence);
//! - outside share: samples more than 1.5× the ring's radius from the origin (divergence).
//!
//! A run ends as "all 8" (8 modes, high-quality share ≥ 0.5), "collapse" (fewer modes, but its
//! samples sharp), "blur" (high-quality share < 0.5, samples within the ring) or "diverged"
//! (more than half the samples outside).

use std::io::Write;
use std::path::Path;

use burn::prelude::*;
use trainer::config::TrainConfig;
use trainer::data::{Dataset, TrainData};
use trainer::data::{
    GAUSSIANS8_MODE_RADIUS, GAUSSIANS8_RADIUS, gaussians8_centers, gaussians8_coverage,
};
use trainer::model::Preset;
use trainer::objective::{Loss, Recipe};
use trainer::report::{XySeries, plot_xy, save_scatter_png};
use trainer::sample::fixed_noise;
use trainer::train::Trainer;

use crate::onedim::spread;
use crate::{COLORS, create};

const LOSSES: [Loss; 5] = [
    Loss::Gan,
    Loss::NsGan,
    Loss::Hinge,
    Loss::Wgan,
    Loss::WganGp,
];
const EVERY: u64 = 100;
const SAMPLES: usize = 2000;

/// One measurement.
#[derive(Clone, Copy)]
struct Score {
    modes: usize,
    high_quality: f64,
    outside: f64,
}

impl Score {
    fn of(points: &[f32]) -> Score {
        let c = gaussians8_coverage(points, 0.02, GAUSSIANS8_MODE_RADIUS);
        let far = 1.5 * GAUSSIANS8_RADIUS;
        let outside = points
            .chunks_exact(2)
            .filter(|p| (p[0] * p[0] + p[1] * p[1]).sqrt() > far)
            .count();
        Score {
            modes: c.modes_covered,
            high_quality: f64::from(c.high_quality_share),
            outside: outside as f64 / (points.len() / 2) as f64,
        }
    }

    fn verdict(&self) -> &'static str {
        if self.outside > 0.5 {
            "diverged"
        } else if self.high_quality < 0.5 {
            "blur"
        } else if self.modes < 8 {
            "collapse"
        } else {
            "all 8"
        }
    }
}

/// Trains every objective with `seeds` seeds for `iters` iterations; writes modes.{csv,md,png}
/// and one scatter plot per objective (seed 0).
pub fn run(out: &Path, seeds: u64, iters: u64) -> anyhow::Result<()> {
    let mut csv = create(out, "modes.csv")?;
    writeln!(
        csv,
        "loss,seed,iter,modes_covered,high_quality_share,outside_share"
    )?;
    let mut finals: Vec<(Loss, u64, Score)> = Vec::new();
    let mut series = Vec::new();
    for (li, loss) in LOSSES.into_iter().enumerate() {
        for seed in 0..seeds {
            let r = Recipe::of(loss);
            let cfg = TrainConfig::new(Preset::Toy, loss, r.n_critic, r.optim)
                .with_dataset(Dataset::Gaussians8)
                .with_seed(seed)
                .with_iters(iters);
            let mut t = Trainer::new(cfg, &Device::flex(), TrainData::Gaussians8)?;
            let z = fixed_noise(99, SAMPLES, Preset::Toy.z_dim());
            let mut points = Vec::new();
            let mut last = Score::of(&t.generate(&z, None));
            for it in 1..=iters {
                t.step()?;
                if it % EVERY == 0 {
                    last = Score::of(&t.generate(&z, None));
                    writeln!(
                        csv,
                        "{},{seed},{it},{},{},{}",
                        loss.name(),
                        last.modes,
                        last.high_quality,
                        last.outside
                    )?;
                    points.push((it as f64, last.modes as f64));
                }
            }
            eprintln!(
                "{} seed {seed}: {} modes, high-quality share {:.3}, outside {:.3} → {}",
                loss.name(),
                last.modes,
                last.high_quality,
                last.outside,
                last.verdict()
            );
            if seed == 0 {
                save_scatter_png(
                    &out.join(format!("modes-{}.png", loss.name())),
                    &t.generate(&z, None),
                    &gaussians8_centers(),
                    &format!("{} after {iters} iterations (seed 0)", loss.name()),
                )?;
                series.push(XySeries {
                    name: format!("{} (seed 0)", loss.name()),
                    color: COLORS[li],
                    points,
                    points_only: false,
                });
            }
            finals.push((loss, seed, last));
        }
    }
    let mut md = create(out, "modes.md")?;
    writeln!(
        md,
        "`toy` preset on `gaussians8`, each objective at its defaults, {iters} generator iterations, \
         {seeds} seeds; final figures, mean [min, max] over seeds.\n\n\
         | loss | modes covered | high-quality share | outside share | outcome per seed |\n|---|---|---|---|---|"
    )?;
    for loss in LOSSES {
        let f: Vec<Score> = finals.iter().filter(|x| x.0 == loss).map(|x| x.2).collect();
        let col = |get: fn(&Score) -> f64| spread(&f.iter().map(get).collect::<Vec<_>>());
        let (m, h, o) = (
            col(|s| s.modes as f64),
            col(|s| s.high_quality),
            col(|s| s.outside),
        );
        let verdicts: Vec<&str> = f.iter().map(Score::verdict).collect();
        writeln!(
            md,
            "| {} | {:.1} [{}, {}] | {:.3} [{:.3}, {:.3}] | {:.3} [{:.3}, {:.3}] | {} |",
            loss.name(),
            m.0,
            m.1,
            m.2,
            h.0,
            h.1,
            h.2,
            o.0,
            o.1,
            o.2,
            verdicts.join(", ")
        )?;
    }
    plot_xy(
        &out.join("modes.png"),
        "gaussians8: modes covered (of 8) during training",
        "generator iteration",
        "modes covered",
        &series,
    )
}

//! The recipe study (`scripts/recipe-study.sh`): runs trained to one CPU budget with
//! `--cpu-budget` and `--eval-every-cpu`, compared by FCD against training CPU time.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::ensure;
use trainer::report::{XySeries, plot_xy, read_metrics};

use crate::{COLORS, create};

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
pub fn run(out: &Path, runs: &[PathBuf], level: f64, title: &str) -> anyhow::Result<()> {
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

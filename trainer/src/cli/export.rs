//! `tinygan export`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;

use super::values::WeightsArg;
use crate::checkpoint::{LoadedGenerator, Weights};
use crate::rundir::RunDir;

/// `tinygan export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run directory.
    #[arg(long)]
    pub run: PathBuf,
    /// Output directory [default: RUN/export].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Which generator weights of the run to export.
    #[arg(long, value_enum, default_value_t = WeightsArg::Averaged)]
    pub weights: WeightsArg,
}

/// Exports the generator of the run in `run_dir` into `out` (default `RUN/export`).
pub fn export_run(run_dir: &Path, out: Option<&Path>, weights: Weights) -> anyhow::Result<()> {
    let device = burn::prelude::Device::flex();
    let LoadedGenerator {
        generator,
        config: cfg,
        iteration,
        averaged,
    } = RunDir::new(run_dir).load_generator(&device, weights)?;
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
        .unwrap_or_else(|| RunDir::new(run_dir).export_dir());
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

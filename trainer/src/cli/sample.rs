//! `tinygan sample`: digits from a run's fp32 generator or from a runtime blob.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;

use super::DeviceArgs;
use super::values::WeightsArg;
use crate::data::{self, IMAGE_PIXELS, pixel_to_signed};
use crate::device;
use crate::report;
use crate::rundir::RunDir;
use crate::sample::{cycling_label, cycling_labels, draw};

/// `tinygan sample`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").args(["run", "blob"]).required(true)))]
pub struct SampleArgs {
    /// Run directory (the trainer's fp32 generator).
    #[arg(long)]
    run: Option<PathBuf>,
    /// A runtime blob (`generator.tgb`): the int8 generator exactly as the firmware runs it, with
    /// the firmware's own latent sampler (`runtime_nostd::latent(seed, i)`).
    #[arg(long)]
    blob: Option<PathBuf>,
    /// Number of digits.
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// Output: `*.png` for a grid, anything else (e.g. `*.idx`) for an IDX3 ubyte file.
    #[arg(long)]
    out: PathBuf,
    /// Digit class (conditional models only).
    #[arg(long)]
    class: Option<u8>,
    /// Noise seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Which generator weights of the run to use (`--run`).
    #[arg(long, value_enum, default_value_t = WeightsArg::Averaged)]
    weights: WeightsArg,
    #[command(flatten)]
    device: DeviceArgs,
}

/// The most digits one `sample` writes to an IDX file (784 MB of pixels; more in several runs with
/// different `--seed`s).
pub const MAX_SAMPLE_IDX: usize = 1_000_000;
/// The most digits in one PNG grid (an 8-column grid of 4096 digits is already ~14 000 px tall).
pub const MAX_SAMPLE_PNG: usize = 4096;

pub(super) fn sample(a: SampleArgs) -> anyhow::Result<()> {
    let is_png = a
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let max = if is_png {
        MAX_SAMPLE_PNG
    } else {
        MAX_SAMPLE_IDX
    };
    if a.n == 0 || a.n > max {
        bail!(
            "--n must be 1..={max} for {} output, got {}",
            if is_png { "a PNG grid" } else { "IDX" },
            a.n
        );
    }
    if a.out.is_dir() {
        bail!(
            "--out {} is a directory; give a file name such as {}",
            a.out.display(),
            a.out.join("digits.idx").display()
        );
    }
    let images = match (&a.run, &a.blob) {
        (Some(run_dir), _) => sample_run_fp32(&a, run_dir)?,
        (_, Some(blob)) => sample_blob_int8(&a, blob)?,
        _ => bail!("give --run DIR or --blob FILE"),
    };
    if is_png {
        report::save_grid_png(&a.out, &images, a.n, 8.min(a.n))?;
    } else {
        let u8s: Vec<u8> = images.iter().map(|&v| data::signed_to_pixel(v)).collect();
        data::write_idx_images(&a.out, &u8s, a.n)
            .with_context(|| format!("cannot write {}", a.out.display()))?;
    }
    eprintln!("wrote {} digits to {}", a.n, a.out.display());
    Ok(())
}

/// `n` digits (values in [-1, 1]) from the fp32 generator of a run.
fn sample_run_fp32(a: &SampleArgs, run_dir: &Path) -> anyhow::Result<Vec<f32>> {
    let chosen = device::choose(a.device.device.into())?;
    let loaded = RunDir::new(run_dir).load_generator(&chosen.device, a.weights.into())?;
    let cfg = loaded.config;
    if !cfg.preset.is_image() {
        bail!(
            "sample writes digits; {} is a {} run",
            run_dir.display(),
            cfg.preset.name()
        );
    }
    let classes = cfg.num_classes();
    let labels: Option<Vec<u8>> = match (a.class, cfg.conditional) {
        (Some(c), true) if (c as usize) < classes => Some(vec![c; a.n]),
        (Some(c), true) => bail!("--class must be 0..=9, got {c}"),
        (Some(_), false) => bail!(
            "--class needs a conditional model; {} is not",
            run_dir.display()
        ),
        (None, true) => Some(cycling_labels(a.n, classes)),
        (None, false) => None,
    };
    Ok(draw(
        &loaded.generator,
        a.n,
        a.seed,
        labels.as_deref(),
        &chosen.device,
    )?)
}

/// `n` digits (values in [-1, 1], from the runtime's u8 pixels) from the int8 runtime on a blob.
fn sample_blob_int8(a: &SampleArgs, path: &Path) -> anyhow::Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let model = runtime_nostd::Model::parse(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a valid tinygan blob: {e}", path.display()))?;
    let classes = model.num_classes();
    let label = |i: usize| -> anyhow::Result<Option<u8>> {
        Ok(match (a.class, classes) {
            (Some(c), n) if n > 0 && (c as usize) < n => Some(c),
            (Some(c), n) if n > 0 => bail!("--class must be 0..={}, got {c}", n - 1),
            (Some(_), _) => bail!(
                "--class needs a conditional model; {} is not",
                path.display()
            ),
            (None, 0) => None,
            (None, n) => Some(cycling_label(i, n)),
        })
    };
    let mut scratch = runtime_nostd::Scratch::<{ runtime_nostd::MAX_PRESET_SCRATCH }>::new();
    let mut z = vec![0f32; model.z_dim()];
    let mut px = [0u8; runtime_nostd::IMAGE_PIXELS];
    let mut images = Vec::with_capacity(a.n * IMAGE_PIXELS);
    for i in 0..a.n {
        runtime_nostd::latent(a.seed, i as u32, &mut z);
        model
            .generate(&z, label(i)?, &mut scratch, &mut px)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        images.extend(px.iter().map(|&p| pixel_to_signed(p)));
    }
    Ok(images)
}

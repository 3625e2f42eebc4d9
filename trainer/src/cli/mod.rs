//! The `tinygan` command line: `train`, `sample`, `export`, `bench`, `eval`. Everything clap knows
//! lives in this folder; the domain modules it drives do not depend on clap.

mod bench;
pub mod eval;
mod export;
mod model_args;
mod sample;
mod train;
pub mod values;

use clap::{Args, Parser, Subcommand};

pub use bench::BenchArgs;
pub use eval::{EvalArgs, eval_command};
pub use export::{ExportArgs, export_run};
pub use model_args::ModelArgs;
pub use sample::SampleArgs;
pub use train::TrainArgs;
use values::DeviceArg;

/// Train GANs on handwritten digits and put the generator on a microcontroller.
#[derive(Parser, Debug)]
#[command(name = "tinygan", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Sub-commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a GAN (or continue one with --resume); writes a run directory.
    Train(TrainArgs),
    /// Draw samples from a trained run into an IDX3 ubyte file or a PNG grid.
    Sample(SampleArgs),
    /// Export a run's generator: ONNX (fp32, int8 QDQ), the runtime blob, a fidelity report.
    Export(ExportArgs),
    /// Measure training speed: prints `generator_iters_per_s X` as its last line.
    Bench(BenchArgs),
    /// Score generated digits: FCD vs MNIST (and the real-data floor), class histogram, confidence.
    Eval(EvalArgs),
}

/// Where to compute.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Compute device: auto = a hardware GPU through wgpu if present, else the CPU backend.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
}

/// Runs the CLI.
pub fn main_with(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(a) => train::train(a),
        Command::Sample(a) => sample::sample(a),
        Command::Export(a) => export_run(&a.run, a.out.as_deref(), a.weights.into()),
        Command::Bench(a) => bench::bench(a),
        Command::Eval(a) => eval_command(a),
    }
}

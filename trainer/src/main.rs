//! The `tinygan` command line.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Burn materialises loaded optimiser state on its default device before moving it to the
    // training device; keep that default on the CPU so resuming a CPU run never opens a GPU.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: single-threaded at this point, before any other code runs.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    let cli = trainer::cli::Cli::parse();
    match trainer::cli::main_with(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! The `tinygan` command line.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = trainer::cli::Cli::parse();
    match trainer::cli::main_with(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

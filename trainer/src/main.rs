//! The `tinygan` command line.

use clap::Parser;

// Training allocates and frees many same-sized multi-megabyte tensors per step. glibc's malloc
// hands them back to the kernel and page-faults them in again; mimalloc reuses them (with the
// LeakyReLU rewrite in model.rs, ns-gan on `tiny` went 3.5 → 5.3 generator iterations/s).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Burn materialises loaded optimiser state on its default device before moving it to the
    // training device; keep that default on the CPU so resuming a CPU run never opens a GPU.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: single-threaded at this point, before any other code runs.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    // This thread joins the CPU backend's rayon pool as its worker 0. From outside the pool,
    // every parallel op (burn-flex's element-wise ops, the GEMM kernels) would inject its job and
    // park this thread on a futex until a worker finished it: two thread wake-ups per op,
    // hundreds per step. As a worker, this thread forks and joins in the pool: an `mlp` ns-gan
    // bench went from 24 019 to 2 579 context switches and ran 40% faster. The step stays on
    // this one thread, which Burn's per-thread running statistics (batch norm) rely on.
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global()
    {
        eprintln!("warning: rayon thread pool: {e}");
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

//! A run directory: where a run's files live, its config, and the generator of its checkpoint.
//! Both training ([`crate::run`]) and evaluation ([`crate::eval`]) reach a run through this.
//!
//! ```text
//! RUN/config.json        the full TrainConfig
//! RUN/metrics.csv        one row per iteration
//! RUN/samples/iter_NNNNNNN.png   grids from a fixed noise batch
//! RUN/samples.gif        the grids, animated (written when the run ends or is stopped)
//! RUN/losses.png         loss curves (written when the run ends or is stopped)
//! RUN/checkpoint.tgc     models, optimisers, RNG, iteration (atomic)
//! RUN/export/            the exported generator (written when the run ends)
//! RUN/.lock              held by the one trainer of this run (see [`RunLock`])
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::prelude::*;

use crate::checkpoint::{self, LoadedGenerator, Weights};
use crate::config::TrainConfig;
use crate::report::METRICS_FILE;
use crate::train::Trainer;

mod lock;
pub use lock::{LOCK_FILE, RunLock};

/// The run directory at a path (which need not exist yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run directory at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RunDir { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `RUN/checkpoint.tgc`.
    pub fn checkpoint(&self) -> PathBuf {
        checkpoint::path_in(&self.path)
    }

    /// `RUN/config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }

    /// `RUN/samples`, the sample grids.
    pub fn samples(&self) -> PathBuf {
        self.path.join("samples")
    }

    /// `RUN/metrics.csv`.
    pub fn metrics(&self) -> PathBuf {
        self.path.join(METRICS_FILE)
    }

    /// `RUN/export`, where `tinygan export` writes by default.
    pub fn export_dir(&self) -> PathBuf {
        self.path.join("export")
    }

    /// Takes the run's lock (see [`RunLock`]); the directory must exist. Fails with a message
    /// naming the holder when another trainer holds it.
    pub fn lock(&self) -> anyhow::Result<RunLock> {
        RunLock::acquire(self)
    }

    /// Creates the directory if needed, then takes its lock.
    pub fn create_and_lock(&self) -> anyhow::Result<RunLock> {
        std::fs::create_dir_all(&self.path)
            .with_context(|| format!("cannot create run directory {}", self.path.display()))?;
        self.lock()
    }

    /// Whether a run was started here (a config or a checkpoint exists).
    pub fn holds_run(&self) -> bool {
        self.checkpoint().exists() || self.config_path().exists()
    }

    /// Reads the run's config.
    pub fn read_config(&self) -> anyhow::Result<TrainConfig> {
        let p = self.config_path();
        let s =
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        serde_json::from_str(&s)
            .with_context(|| format!("{} is not a valid run config", p.display()))
    }

    /// Writes the run's config, atomically.
    pub fn write_config(&self, cfg: &TrainConfig) -> anyhow::Result<()> {
        let p = self.config_path();
        export::atomic::write_atomic(&p, serde_json::to_string_pretty(cfg)?.as_bytes())
            .with_context(|| format!("cannot write {}", p.display()))
    }

    /// The generator of the run's checkpoint on `device` (see [`Trainer::load_generator`]).
    pub fn load_generator(
        &self,
        device: &Device,
        weights: Weights,
    ) -> anyhow::Result<LoadedGenerator> {
        Trainer::load_generator(&self.checkpoint(), device, weights)
    }
}

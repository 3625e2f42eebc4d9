//! Checkpoints: everything a run needs to continue, as one typed container ([`Checkpoint`]) stored
//! in one self-checking file ([`file`]: named sections, SHA-256, written atomically).
//!
//! Sections: `state.json` (iteration, RNG state, config), `generator.bpk`, `critic.bpk`,
//! `optim_g.bpk`, `optim_d.bpk` (Burn's burnpack records), `generator_ema.bpk` (the moving average
//! of the generator's weights, when the run keeps one) and `running.json` (batch-norm running
//! statistics and spectral-norm vectors, which Burn's records leave out).

pub mod file;
mod legacy;

use std::path::{Path, PathBuf};

use burn::module::{Module, RunningState};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

pub use file::{CheckpointError, FILE_NAME, Sections};

use crate::config::TrainConfig;
use crate::data::TrainData;
use crate::ema::calibrated;
use crate::model::{Generator, GeneratorConfig, set_running};
use crate::train::Trainer;
use legacy::{LegacyCritic, LegacyGenerator};

/// Path of the checkpoint in run directory `run`.
pub fn path_in(run: &Path) -> PathBuf {
    run.join(FILE_NAME)
}

/// Which weights of a checkpoint's generator to load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Weights {
    /// The moving average of the weights when the run keeps one (`--ema`), with batch-norm
    /// statistics measured for it; else the trained weights.
    #[default]
    Averaged,
    /// The weights the optimiser produced last, with their running statistics.
    Trained,
}

/// A generator loaded from a checkpoint, in inference mode.
pub struct LoadedGenerator {
    /// The generator.
    pub generator: Generator,
    /// The run's config.
    pub config: TrainConfig,
    /// The iteration the checkpoint was taken at.
    pub iteration: u64,
    /// Whether these are the averaged weights.
    pub averaged: bool,
}

/// The run's state besides the networks (`state.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    /// Generator iterations done.
    pub iteration: u64,
    /// The run's RNG.
    pub rng: Pcg64,
    /// The run's config.
    pub config: TrainConfig,
}

/// The contents of a checkpoint file, section by section.
pub struct Checkpoint {
    /// `state.json`.
    pub state: RunState,
    /// `generator.bpk`: the trained generator's record.
    pub generator: Vec<u8>,
    /// `critic.bpk`.
    pub critic: Vec<u8>,
    /// `generator_ema.bpk`: the averaged generator's record, when the run keeps one.
    pub generator_ema: Option<Vec<u8>>,
    /// `optim_g.bpk`.
    pub optim_g: Vec<u8>,
    /// `optim_d.bpk`.
    pub optim_d: Vec<u8>,
    /// `running.json`: generator batch-norm means and variances, then spectral-norm vectors.
    pub running: Vec<Vec<f32>>,
}

const STATE: &str = "state.json";
const GENERATOR: &str = "generator.bpk";
const CRITIC: &str = "critic.bpk";
const GENERATOR_EMA: &str = "generator_ema.bpk";
const OPTIM_G: &str = "optim_g.bpk";
const OPTIM_D: &str = "optim_d.bpk";
const RUNNING: &str = "running.json";

impl Checkpoint {
    /// The file's sections.
    pub fn to_sections(&self) -> anyhow::Result<Sections> {
        let mut s = Sections::default();
        s.0.insert(STATE.into(), serde_json::to_vec_pretty(&self.state)?);
        s.0.insert(GENERATOR.into(), self.generator.clone());
        s.0.insert(CRITIC.into(), self.critic.clone());
        if let Some(ema) = &self.generator_ema {
            s.0.insert(GENERATOR_EMA.into(), ema.clone());
        }
        s.0.insert(RUNNING.into(), serde_json::to_vec(&self.running)?);
        s.0.insert(OPTIM_G.into(), self.optim_g.clone());
        s.0.insert(OPTIM_D.into(), self.optim_d.clone());
        Ok(s)
    }

    /// Reads and verifies the checkpoint file at `path`.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let mut s = Sections::read(path)?;
        let mut take = |name: &str| -> Result<Vec<u8>, CheckpointError> {
            s.0.remove(name).ok_or_else(|| CheckpointError::Missing {
                path: path.display().to_string(),
                name: name.to_string(),
            })
        };
        let state =
            serde_json::from_slice(&take(STATE)?).map_err(|e| CheckpointError::Corrupt {
                path: path.display().to_string(),
                reason: format!("state.json: {e}"),
            })?;
        let generator = take(GENERATOR)?;
        let critic = take(CRITIC)?;
        let optim_g = take(OPTIM_G)?;
        let optim_d = take(OPTIM_D)?;
        let running = serde_json::from_slice(&take(RUNNING)?)
            .map_err(|e| anyhow::anyhow!("checkpoint {}: running.json: {e}", path.display()))?;
        Ok(Checkpoint {
            state,
            generator,
            critic,
            generator_ema: s.0.remove(GENERATOR_EMA),
            optim_g,
            optim_d,
            running,
        })
    }

    /// Writes the checkpoint atomically to `path`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        self.to_sections()?
            .write_atomic(path)
            .map_err(|e| anyhow::anyhow!("cannot write checkpoint {}: {e}", path.display()))
    }
}

/// The iteration a checkpoint was taken at (the whole file is verified).
pub fn checkpoint_iteration(path: &Path) -> anyhow::Result<u64> {
    Ok(Checkpoint::read(path)?.state.iteration)
}

fn record_bytes<M: Module>(m: &M) -> anyhow::Result<Vec<u8>> {
    let b = m
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("cannot serialise model: {e}"))?;
    Ok(b.to_vec())
}

fn load_module<M: Module>(m: M, bytes: &[u8], what: &str, path: &Path) -> anyhow::Result<M> {
    let rec = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| {
        anyhow::anyhow!(
            "checkpoint {}: {what} record unreadable: {e}",
            path.display()
        )
    })?;
    let m = m.try_load_record(rec).map_err(|e| {
        anyhow::anyhow!(
            "checkpoint {}: {what} does not match this preset/config: {e}",
            path.display()
        )
    })?;
    reads_back(&record_bytes(&m)?, bytes, what, path)?;
    Ok(m)
}

/// Loads a model section into `skeleton` (a model of the run's config): a record of the current
/// layout, or one of the layout `Old` written before the model became an enum ([`legacy`]),
/// converted by `upgrade`.
fn load_model<M: Module, Old: Module + From<M>>(
    skeleton: M,
    bytes: &[u8],
    what: &str,
    path: &Path,
    upgrade: impl FnOnce(Old, &M) -> Option<M>,
) -> anyhow::Result<M> {
    load_module(skeleton.clone(), bytes, what, path).or_else(|current| {
        load_module(Old::from(skeleton.clone()), bytes, what, path)
            .ok()
            .and_then(|old| upgrade(old, &skeleton))
            // Neither layout reads it: the error of the current one says why.
            .ok_or(current)
    })
}

/// [`load_model`] for a generator.
fn load_generator_record(
    skeleton: Generator,
    bytes: &[u8],
    what: &str,
    path: &Path,
) -> anyhow::Result<Generator> {
    load_model(skeleton, bytes, what, path, |old: LegacyGenerator, like| {
        old.into_generator(like)
    })
}

/// Burn's optimiser loader (burn-optim 0.22.1, `ModuleOptimizer::load_record`) panics on a state
/// tensor without a parameter id, and tinygan writes none without one: such a record is damaged,
/// and refused here before Burn reads it (found by `trainer/fuzz`'s `checkpoint` target).
fn every_state_has_a_parameter(record: &[u8]) -> Result<(), String> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(record.to_vec()))
        .map_err(|e| format!("unreadable record: {e}"))?;
    for tensor in reader
        .into_tensors()
        .map_err(|e| format!("unreadable record: {e}"))?
    {
        let (name, _, _, param_id, _) = tensor
            .into_parts()
            .map_err(|e| format!("unreadable record: {e}"))?;
        if param_id.is_none() {
            return Err(format!("state tensor {name:?} names no parameter"));
        }
    }
    Ok(())
}

/// A model's section must be as long as what the loaded model writes again (the bytes differ: a
/// loaded module keeps its own parameter ids): Burn's record decoding accepts trailing bytes, so
/// a damaged section could otherwise load.
fn reads_back(again: &[u8], written: &[u8], what: &str, path: &Path) -> anyhow::Result<()> {
    if again.len() != written.len() {
        anyhow::bail!(
            "checkpoint {}: {what} is damaged or belongs to another model (it does not read back \
             as written)",
            path.display()
        );
    }
    Ok(())
}

/// The generator's batch-norm running mean and variance, in checkpoint order.
fn generator_states(g: &Generator) -> Vec<&RunningState<Tensor<1>>> {
    g.batch_norms()
        .into_iter()
        .flat_map(|b| [&b.running_mean, &b.running_var])
        .collect()
}

/// Sets 1-D running states from the leading entries of `values`, checking every length.
fn set_states(
    states: &[&RunningState<Tensor<1>>],
    values: &[Vec<f32>],
    device: &Device,
) -> Result<(), String> {
    if values.len() < states.len() {
        return Err(format!(
            "{} tensors, expected at least {}",
            values.len(),
            states.len()
        ));
    }
    for (r, v) in states.iter().zip(values) {
        let n = r.value().dims()[0];
        if v.len() != n {
            return Err(format!("length {} where {n} was expected", v.len()));
        }
        set_running(
            r,
            Tensor::from_data(TensorData::new(v.clone(), [n]), device),
        );
    }
    Ok(())
}

fn values<const D: usize>(r: &RunningState<Tensor<D>>) -> Vec<f32> {
    r.value_sync()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap_or_default()
}

fn optimizer_bytes(o: &burn::optim::ModuleOptimizer) -> anyhow::Result<Vec<u8>> {
    Ok(o.into_bytes()
        .map_err(|e| anyhow::anyhow!("optimizer state: {e}"))?
        .to_vec())
}

impl Trainer {
    /// The checkpoint of this run's current state.
    pub fn checkpoint(&self) -> anyhow::Result<Checkpoint> {
        // Burn's records hold parameters only: running statistics go in a section of their own.
        let running = generator_states(&self.generator)
            .into_iter()
            .map(values)
            .chain(self.critic.sn_u.iter().map(values))
            .collect();
        Ok(Checkpoint {
            state: RunState {
                iteration: self.iteration,
                rng: self.rng.clone(),
                config: self.cfg.clone(),
            },
            generator: record_bytes(&self.generator)?,
            critic: record_bytes(&self.critic)?,
            generator_ema: self.ema.as_ref().map(record_bytes).transpose()?,
            optim_g: optimizer_bytes(&self.opt_g)?,
            optim_d: optimizer_bytes(&self.opt_d)?,
            running,
        })
    }

    /// The checkpoint's sections: state, both models, both optimisers.
    pub fn to_sections(&self) -> anyhow::Result<Sections> {
        self.checkpoint()?.to_sections()
    }

    /// Writes the checkpoint atomically to `path`.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        self.checkpoint()?.write(path)
    }

    /// Restores a run from a checkpoint file (config included).
    pub fn load(path: &Path, device: &Device, data: TrainData) -> anyhow::Result<Self> {
        let ck = Checkpoint::read(path)?;
        let mut t = Trainer::new(ck.state.config, device, data)?;
        t.generator = load_generator_record(t.generator, &ck.generator, "generator", path)?;
        t.critic = load_model(
            t.critic,
            &ck.critic,
            "critic",
            path,
            |old: LegacyCritic, like| old.into_critic(like),
        )?;
        if t.ema.is_some() {
            // A checkpoint from before the moving average starts it at the trained weights.
            t.ema = Some(match &ck.generator_ema {
                Some(b) => {
                    load_generator_record(t.generator.valid(), b, "averaged generator", path)?
                }
                None => t.generator.valid(),
            });
        }
        let opt = |o: burn::optim::ModuleOptimizer, bytes: Vec<u8>, name: &str| {
            // Not checked with `reads_back`: a loaded optimiser writes its state back in another
            // form until its next step. What guards this section: the file's checksum, and that
            // every state tensor names a parameter (Burn's loader panics on one that does not).
            let unreadable =
                |e: String| anyhow::anyhow!("checkpoint {}: {name}: {e}", path.display());
            every_state_has_a_parameter(&bytes).map_err(unreadable)?;
            o.from_bytes(Bytes::from_bytes_vec(bytes))
                .map_err(|e| unreadable(e.to_string()))
        };
        t.opt_g = opt(t.opt_g, ck.optim_g, OPTIM_G)?;
        t.opt_d = opt(t.opt_d, ck.optim_d, OPTIM_D)?;
        t.set_running_state(&ck.running).map_err(|e| {
            anyhow::anyhow!("checkpoint {}: running statistics: {e}", path.display())
        })?;
        t.rng = ck.state.rng;
        t.iteration = ck.state.iteration;
        Ok(t)
    }

    /// Loads only the generator of a checkpoint (for sampling and export), on `device` without
    /// autodiff: its moving average when the run keeps one and `weights` asks for it, else the
    /// trained weights.
    pub fn load_generator(
        path: &Path,
        device: &Device,
        weights: Weights,
    ) -> anyhow::Result<LoadedGenerator> {
        let ck = Checkpoint::read(path)?;
        let cfg = ck.state.config;
        let skeleton = GeneratorConfig::new(cfg.preset)
            .with_num_classes(cfg.num_classes())
            .init(device);
        let (generator, averaged) = match (&ck.generator_ema, weights) {
            (Some(ema), Weights::Averaged) => {
                let g = load_generator_record(skeleton, ema, "averaged generator", path)?;
                (calibrated(g, &cfg, device), true)
            }
            _ => {
                let g = load_generator_record(skeleton, &ck.generator, "generator", path)?;
                set_states(&generator_states(&g), &ck.running, device).map_err(|e| {
                    anyhow::anyhow!("checkpoint {}: running statistics: {e}", path.display())
                })?;
                (g, false)
            }
        };
        Ok(LoadedGenerator {
            generator,
            config: cfg,
            iteration: ck.state.iteration,
            averaged,
        })
    }

    /// Sets the running statistics of both networks from `values` (checkpoint order).
    fn set_running_state(&self, values: &[Vec<f32>]) -> Result<(), String> {
        let ones = generator_states(&self.generator);
        let twos = &self.critic.sn_u;
        if values.len() != ones.len() + twos.len() {
            return Err(format!(
                "{} tensors, expected {}",
                values.len(),
                ones.len() + twos.len()
            ));
        }
        set_states(&ones, &values[..ones.len()], &self.device)?;
        for (r, v) in twos.iter().zip(&values[ones.len()..]) {
            let [a, b] = r.value().dims();
            if v.len() != a * b {
                return Err(format!("length {} where {} was expected", v.len(), a * b));
            }
            set_running(
                r,
                Tensor::from_data(TensorData::new(v.clone(), [a, b]), &self.device),
            );
        }
        Ok(())
    }
}

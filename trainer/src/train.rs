//! The training loop: k critic updates, one generator update, for every objective; checkpoints and
//! resume.
//!
//! All randomness of a run after initialisation (batch indices, noise, interpolation weights, labels)
//! comes from one seeded PCG generator whose state is saved in every checkpoint, so a resumed run
//! continues exactly where the interrupted one stopped.

use std::path::Path;

use burn::module::{Module, RunningState};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, RmsPropConfig};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Gradients};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointError, Sections};
use crate::data::gaussians8_sample;
use crate::model::{
    Critic, CriticConfig, CriticWeights, Generator, GeneratorConfig, Preset, init_seeded,
    set_running,
};
use crate::objective::{
    Loss, OptimSettings, OptimizerKind, gan_d_loss, generator_loss, hinge_d_loss,
    lipschitz_penalty, r1_penalty, row_norms,
};

/// What the models learn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// MNIST handwritten digits.
    Mnist,
    /// A 2-D ring of 8 Gaussians (toy data for fast tests and mode-collapse demos).
    Gaussians8,
}

/// Everything that defines a training run. Saved as `config.json` in the run directory.
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Model preset.
    pub preset: Preset,
    /// Objective.
    pub loss: Loss,
    /// Critic steps per generator step.
    pub n_critic: usize,
    /// Optimiser (both networks).
    pub optim: OptimSettings,
    /// Training data.
    #[config(default = "Dataset::Mnist")]
    pub dataset: Dataset,
    /// Class-conditional G and D.
    #[config(default = false)]
    pub conditional: bool,
    /// Spectral normalisation in the critic (replaces weight clipping for `wgan`).
    #[config(default = false)]
    pub spectral_norm: bool,
    /// Batch size.
    #[config(default = 64)]
    pub batch: usize,
    /// Generator iterations to train for.
    #[config(default = 5000)]
    pub iters: u64,
    /// Penalty weight λ.
    #[config(default = 10.0)]
    pub lambda: f64,
    /// Weight-clipping bound c for `wgan`.
    #[config(default = 0.01)]
    pub clip: f64,
    /// Seed of the initialisation and of every random draw.
    #[config(default = 0)]
    pub seed: u64,
    /// Write a sample grid every this many iterations.
    #[config(default = 250)]
    pub sample_every: u64,
    /// Write a checkpoint every this many iterations.
    #[config(default = 500)]
    pub checkpoint_every: u64,
    /// Decay of the moving average of the generator's weights that sampling and export use
    /// (0 = none: they use the trained weights); `None` (also every config written before this
    /// field existed) means [`DEFAULT_EMA`]. See [`TrainConfig::ema_decay`].
    pub ema: Option<f64>,
    /// R1 penalty weight γ on real samples (GAN family and hinge); `None` = off.
    pub r1: Option<f64>,
    /// R1 is applied every this many critic steps, with weight `r1_every·γ/2` (lazy R1);
    /// `None` means [`DEFAULT_R1_EVERY`].
    pub r1_every: Option<u64>,
}

/// Critic steps between two lazy R1 applications (as StyleGAN2).
pub const DEFAULT_R1_EVERY: u64 = 16;

/// The default decay of the generator's moving average: a half-life of about 140 iterations, about
/// StyleGAN's 10 000 images at batch 64. A longer window lags behind while FCD still falls fast.
pub const DEFAULT_EMA: f64 = 0.995;

impl TrainConfig {
    /// A config with the objective's defaults (n_critic, optimiser) from `docs/objectives.md`.
    pub fn with_defaults(preset: Preset, loss: Loss) -> Self {
        TrainConfig::new(preset, loss, loss.default_n_critic(), loss.default_optim())
    }

    /// The moving average's decay after `t` iterations: [`TrainConfig::ema`], capped at
    /// `(1 + t) / (10 + t)` early on so that short runs average over a short window.
    pub fn ema_decay(&self, t: u64) -> f64 {
        let t = t as f64;
        self.ema.unwrap_or(DEFAULT_EMA).min((1.0 + t) / (10.0 + t))
    }

    /// The R1 weight for critic step number `step` (counted from 0 over the whole run):
    /// `r1_every·γ/2` on every `r1_every`-th step, 0 on the others and without R1.
    pub fn r1_weight(&self, step: u64) -> f64 {
        let every = self.r1_every.unwrap_or(DEFAULT_R1_EVERY).max(1);
        match self.r1 {
            Some(gamma) if step.is_multiple_of(every) => every as f64 * gamma / 2.0,
            _ => 0.0,
        }
    }

    /// Number of classes the models are conditioned on.
    pub fn num_classes(&self) -> usize {
        if self.conditional { 10 } else { 0 }
    }

    /// Checks combinations that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.batch >= 2, "--batch must be at least 2");
        anyhow::ensure!(self.n_critic >= 1, "--n-critic must be at least 1");
        for (flag, lr) in [
            ("--lr", self.optim.lr),
            ("--lr-g", self.optim.lr_g()),
            ("--lr-d", self.optim.lr_d()),
        ] {
            anyhow::ensure!(lr > 0.0 && lr.is_finite(), "{flag} must be > 0, got {lr}");
        }
        if let Some(gamma) = self.r1 {
            anyhow::ensure!(
                gamma >= 0.0 && gamma.is_finite(),
                "--r1 must be ≥ 0, got {gamma}"
            );
            anyhow::ensure!(
                self.loss.allows_r1(),
                "--r1 is for gan, ns-gan and hinge; {} has its own Lipschitz constraint",
                self.loss.name()
            );
        }
        anyhow::ensure!(self.r1_every != Some(0), "--r1-every must be at least 1");
        anyhow::ensure!(
            self.sample_every >= 1 && self.checkpoint_every >= 1,
            "intervals must be ≥ 1"
        );
        if let Some(e) = self.ema {
            anyhow::ensure!(
                (0.0..1.0).contains(&e),
                "--ema must be in [0, 1) (0 turns the moving average off), got {e}"
            );
        }
        match self.dataset {
            Dataset::Gaussians8 => anyhow::ensure!(
                self.preset == Preset::Toy && !self.conditional,
                "--dataset gaussians8 needs --preset toy and no --conditional"
            ),
            Dataset::Mnist => anyhow::ensure!(
                self.preset != Preset::Toy,
                "--preset toy is for --dataset gaussians8"
            ),
        }
        Ok(())
    }
}

/// The training examples, held on the CPU; batches are assembled per step.
#[derive(Clone, Debug)]
pub enum TrainData {
    /// 28×28 u8 images (row-major, `n × 784`) and their labels.
    Images {
        /// Pixels.
        images: Vec<u8>,
        /// Labels 0..=9.
        labels: Vec<u8>,
    },
    /// Fresh draws from the 8-Gaussian ring every step.
    Gaussians8,
}

/// Figures of one generator iteration (the last critic step's critic figures).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepStats {
    /// Critic / discriminator loss (penalty included).
    pub d_loss: f64,
    /// Generator loss.
    pub g_loss: f64,
    /// Wasserstein estimate `mean f(real) − mean f(fake)` (WGAN family).
    pub wasserstein: Option<f64>,
    /// Share of real samples D classifies as real (GAN family).
    pub acc_real: Option<f64>,
    /// Share of fake samples D classifies as fake (GAN family).
    pub acc_fake: Option<f64>,
    /// Mean gradient norm (or difference quotient) at the interpolates (penalty family).
    pub grad_norm: Option<f64>,
    /// Norm of the generator loss's gradient with respect to all generator parameters (shows the
    /// saturating loss's vanishing gradient).
    pub g_grad_norm: f64,
}

/// Errors of a training step.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A loss became NaN or infinite.
    #[error("{what} is {value} at iteration {iteration}: training diverged (try a lower --lr)")]
    NonFinite {
        /// Which figure.
        what: &'static str,
        /// Its value.
        value: f64,
        /// The iteration.
        iteration: u64,
    },
}

/// A run's live state: models, optimisers, RNG and iteration.
pub struct Trainer {
    /// The configuration.
    pub cfg: TrainConfig,
    /// The autodiff device everything lives on.
    pub device: Device,
    /// The generator.
    pub generator: Generator,
    /// The critic.
    pub critic: Critic,
    opt_g: ModuleOptimizer,
    opt_d: ModuleOptimizer,
    rng: Pcg64,
    /// Generator iterations done.
    pub iteration: u64,
    data: TrainData,
    /// Moving average of the generator's weights (on the inference device), unless `cfg.ema` is 0.
    ema: Option<Generator>,
}

/// Which weights of a checkpoint's generator to load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
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

/// Samples over which a moving-average generator's batch-norm statistics are measured.
const CALIBRATION_BATCHES: usize = 32;

/// The section holding the averaged generator's weights.
const EMA_SECTION: &str = "generator_ema.bpk";

#[derive(Serialize, Deserialize)]
struct SavedState {
    iteration: u64,
    rng: Pcg64,
    config: TrainConfig,
}

fn optimizer(o: &OptimSettings) -> ModuleOptimizer {
    match o.kind {
        OptimizerKind::Adam => AdamConfig::new()
            .with_beta_1(o.beta1 as f32)
            .with_beta_2(o.beta2 as f32)
            .with_epsilon(1e-8)
            .init(),
        OptimizerKind::Rmsprop => RmsPropConfig::new()
            .with_alpha(0.99)
            .with_momentum(0.0)
            .with_epsilon(1e-8)
            .init(),
    }
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
    m.try_load_record(rec).map_err(|e| {
        anyhow::anyhow!(
            "checkpoint {}: {what} does not match this preset/config: {e}",
            path.display()
        )
    })
}

impl Trainer {
    /// Fresh models initialised from `cfg.seed` on `device` (autodiff is enabled here).
    pub fn new(cfg: TrainConfig, device: &Device, data: TrainData) -> anyhow::Result<Self> {
        cfg.validate()?;
        if let TrainData::Images { images, labels } = &data {
            anyhow::ensure!(!labels.is_empty(), "the training set is empty");
            anyhow::ensure!(
                images.len() == labels.len() * 784,
                "images and labels disagree in count"
            );
        }
        let device = device.clone().autodiff();
        // The initial weights are a function of the seed alone, whatever else runs at once.
        let (generator, critic) = init_seeded(&device, cfg.seed, |d| {
            let generator = GeneratorConfig::new(cfg.preset)
                .with_num_classes(cfg.num_classes())
                .init(d);
            let critic = CriticConfig::new(cfg.preset)
                .with_num_classes(cfg.num_classes())
                .with_spectral_norm(cfg.spectral_norm)
                .init(d);
            (generator, critic)
        });
        let ema = (cfg.ema.unwrap_or(DEFAULT_EMA) > 0.0).then(|| generator.valid());
        Ok(Trainer {
            ema,
            opt_g: optimizer(&cfg.optim),
            opt_d: optimizer(&cfg.optim),
            rng: Pcg64::seed_from_u64(cfg.seed ^ 0x7469_6e79_6761_6e00),
            iteration: 0,
            generator,
            critic,
            device,
            cfg,
            data,
        })
    }

    /// The checkpoint's sections: state, both models, both optimisers.
    pub fn to_sections(&self) -> anyhow::Result<Sections> {
        let mut s = Sections::default();
        let state = SavedState {
            iteration: self.iteration,
            rng: self.rng.clone(),
            config: self.cfg.clone(),
        };
        s.0.insert("state.json".into(), serde_json::to_vec_pretty(&state)?);
        s.0.insert("generator.bpk".into(), record_bytes(&self.generator)?);
        s.0.insert("critic.bpk".into(), record_bytes(&self.critic)?);
        if let Some(ema) = &self.ema {
            s.0.insert(EMA_SECTION.into(), record_bytes(ema)?);
        }
        // Burn's records hold parameters only: running statistics go in a section of their own.
        s.0.insert(
            "running.json".into(),
            serde_json::to_vec(&self.running_state())?,
        );
        let opt = |o: &ModuleOptimizer| -> anyhow::Result<Vec<u8>> {
            Ok(o.into_bytes()
                .map_err(|e| anyhow::anyhow!("optimizer state: {e}"))?
                .to_vec())
        };
        s.0.insert("optim_g.bpk".into(), opt(&self.opt_g)?);
        s.0.insert("optim_d.bpk".into(), opt(&self.opt_d)?);
        Ok(s)
    }

    /// Writes the checkpoint atomically to `path`.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        self.to_sections()?
            .write_atomic(path)
            .map_err(|e| anyhow::anyhow!("cannot write checkpoint {}: {e}", path.display()))
    }

    /// Restores a run from a checkpoint file (config included).
    pub fn load(path: &Path, device: &Device, data: TrainData) -> anyhow::Result<Self> {
        let (s, state) = read_checkpoint(path)?;
        let mut t = Trainer::new(state.config, device, data)?;
        t.generator = load_module(
            t.generator,
            s.get("generator.bpk", path)?,
            "generator",
            path,
        )?;
        t.critic = load_module(t.critic, s.get("critic.bpk", path)?, "critic", path)?;
        if t.ema.is_some() {
            // A checkpoint from before the moving average starts it at the trained weights.
            t.ema = Some(match s.0.get(EMA_SECTION) {
                Some(b) => load_module(t.generator.valid(), b, "averaged generator", path)?,
                None => t.generator.valid(),
            });
        }
        let opt = |o: ModuleOptimizer, name: &str| -> anyhow::Result<ModuleOptimizer> {
            let b = Bytes::from_bytes_vec(s.get(name, path)?.to_vec());
            o.from_bytes(b)
                .map_err(|e| anyhow::anyhow!("checkpoint {}: {name}: {e}", path.display()))
        };
        t.opt_g = opt(t.opt_g, "optim_g.bpk")?;
        t.opt_d = opt(t.opt_d, "optim_d.bpk")?;
        let running = read_running(&s, path)?;
        t.set_running_state(&running).map_err(|e| {
            anyhow::anyhow!("checkpoint {}: running statistics: {e}", path.display())
        })?;
        t.rng = state.rng;
        t.iteration = state.iteration;
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
        let (s, state) = read_checkpoint(path)?;
        let cfg = state.config;
        let skeleton = GeneratorConfig::new(cfg.preset)
            .with_num_classes(cfg.num_classes())
            .init(device);
        let averaged = weights == Weights::Averaged && s.0.contains_key(EMA_SECTION);
        let generator = if averaged {
            let g = load_module(
                skeleton,
                s.get(EMA_SECTION, path)?,
                "averaged generator",
                path,
            )?;
            g.calibrate_batch_norm(&calibration_batches(&cfg, device));
            g
        } else {
            let g = load_module(skeleton, s.get("generator.bpk", path)?, "generator", path)?;
            let running = read_running(&s, path)?;
            set_states(&generator_states(&g), &running, device).map_err(|e| {
                anyhow::anyhow!("checkpoint {}: running statistics: {e}", path.display())
            })?;
            g
        };
        Ok(LoadedGenerator {
            generator,
            config: cfg,
            iteration: state.iteration,
            averaged,
        })
    }

    /// The generator that sampling and export use, in inference mode: the moving average of the
    /// weights (batch norm measured for it) when the run keeps one, else the trained weights.
    pub fn sampling_generator(&self) -> Generator {
        match &self.ema {
            Some(ema) => {
                let g = ema.clone();
                g.calibrate_batch_norm(&calibration_batches(
                    &self.cfg,
                    &self.device.clone().inner(),
                ));
                g
            }
            None => self.generator.valid(),
        }
    }

    /// Whether the run keeps a moving average of the generator's weights.
    pub fn has_average(&self) -> bool {
        self.ema.is_some()
    }

    /// Non-trainable state: batch-norm running mean/var of the generator, spectral-norm `u` of the
    /// critic, in a fixed order.
    fn running_states(&self) -> (Vec<&RunningState<Tensor<1>>>, Vec<&RunningState<Tensor<2>>>) {
        let g = &self.generator;
        let bns = [&g.bn0, &g.bn1].into_iter().flatten();
        let ones = bns
            .flat_map(|b| [&b.running_mean, &b.running_var])
            .collect();
        (ones, self.critic.sn_u.iter().collect())
    }

    fn running_state(&self) -> Vec<Vec<f32>> {
        let (ones, twos) = self.running_states();
        let v1 = ones.iter().map(|r| {
            r.value_sync()
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap_or_default()
        });
        let v2 = twos.iter().map(|r| {
            r.value_sync()
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap_or_default()
        });
        v1.chain(v2).collect()
    }

    fn set_running_state(&self, values: &[Vec<f32>]) -> Result<(), String> {
        let (ones, twos) = self.running_states();
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

    fn tensor2(&self, v: Vec<f32>, rows: usize, cols: usize) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, [rows, cols]), &self.device)
    }

    /// `n` standard-normal latents from the run's RNG.
    fn noise(&mut self, n: usize) -> Tensor<2> {
        let zd = self.cfg.preset.z_dim();
        let v: Vec<f32> = (0..n * zd)
            .map(|_| self.rng.sample(StandardNormal))
            .collect();
        self.tensor2(v, n, zd)
    }

    fn onehot(&self, labels: &[u8]) -> Option<Tensor<2>> {
        let c = self.cfg.num_classes();
        (c > 0).then(|| onehot_tensor(labels, c, &self.device))
    }

    fn random_labels(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.rng.random_range(0..10u8)).collect()
    }

    /// A batch of real samples in `[-1, 1]` and their labels.
    fn real_batch(&mut self, n: usize) -> (Tensor<2>, Vec<u8>) {
        match &self.data {
            TrainData::Images { images, labels } => {
                let count = labels.len();
                let mut v = Vec::with_capacity(n * 784);
                let mut l = Vec::with_capacity(n);
                for _ in 0..n {
                    let i = self.rng.random_range(0..count);
                    v.extend(
                        images[i * 784..(i + 1) * 784]
                            .iter()
                            .map(|&p| p as f32 / 127.5 - 1.0),
                    );
                    l.push(labels[i]);
                }
                (self.tensor2(v, n, 784), l)
            }
            TrainData::Gaussians8 => {
                let v = gaussians8_sample(&mut self.rng, n);
                (self.tensor2(v, n, 2), vec![0; n])
            }
        }
    }

    /// One critic update. Returns the figures `[d_loss, w_or_acc_real, acc_fake, grad_norm]` as a
    /// detached tensor (read once per iteration to avoid device syncs).
    fn critic_step(&mut self, r1_weight: f64) -> Tensor<1> {
        let b = self.cfg.batch;
        let loss = self.cfg.loss;
        let (real, labels) = self.real_batch(b);
        let y = self.onehot(&labels);
        let z = self.noise(b);
        // Fakes for the critic carry the real batch's labels, so interpolates have one label.
        let fake = self.generator.forward(z, y.clone()).detach();
        let eps: Vec<Tensor<2>> = (0..loss.interpolate_draws())
            .map(|_| {
                let e: Vec<f32> = (0..b).map(|_| self.rng.random::<f32>()).collect();
                self.tensor2(e, b, 1)
            })
            .collect();
        let w = self.critic.weights(true);
        let obj = CriticObjective {
            loss,
            lambda: self.cfg.lambda,
            r1_weight,
        };
        let (d_loss, figures) = obj.evaluate(&self.critic, &w, real, fake, &eps, y);

        let grads = d_loss.backward();
        let grads = GradientsParams::from_grads(grads, &self.critic);
        let critic = std::mem::replace(&mut self.critic, dummy_critic());
        let mut critic = self.opt_d.step(self.cfg.optim.lr_d(), critic, grads);
        if self.cfg.loss == Loss::Wgan && !self.cfg.spectral_norm {
            critic = critic.clip(self.cfg.clip);
        }
        self.critic = critic;
        figures
    }

    /// One generator iteration: `n_critic` critic updates, then one generator update.
    pub fn step(&mut self) -> Result<StepStats, StepError> {
        let mut figures = None;
        let k = self.cfg.n_critic as u64;
        for j in 0..k {
            let r1_weight = self.cfg.r1_weight(self.iteration * k + j);
            figures = Some(self.critic_step(r1_weight));
        }
        let b = self.cfg.batch;
        let labels = self.random_labels(b);
        let y = self.onehot(&labels);
        let z = self.noise(b);
        let fake = self.generator.forward(z, y.clone());
        let frozen = self.critic.clone().no_grad();
        let w = frozen.weights(false);
        let scores = frozen.forward(&w, fake, y);
        let g_loss = generator_loss(self.cfg.loss, scores);
        let grads = g_loss.backward();
        let g_grad_norm = gradient_norm(&self.generator, &grads);
        let grads = GradientsParams::from_grads(grads, &self.generator);
        let generator = std::mem::replace(&mut self.generator, dummy_gen());
        self.generator = self.opt_g.step(self.cfg.optim.lr_g(), generator, grads);
        self.iteration += 1;
        if let Some(ema) = self.ema.take() {
            let decay = self.cfg.ema_decay(self.iteration);
            self.ema = Some(blend(ema, &self.generator, decay));
        }

        let all = Tensor::cat(vec![figures.expect("n_critic ≥ 1"), g_loss.detach()], 0);
        let v: Vec<f32> = all.into_data().try_into_vec_as::<f32>().unwrap_or_default();
        let it = self.iteration;
        let check = |what: &'static str, x: f32| -> Result<f64, StepError> {
            if x.is_finite() {
                Ok(x as f64)
            } else {
                Err(StepError::NonFinite {
                    what,
                    value: x as f64,
                    iteration: it,
                })
            }
        };
        let d_loss = check("critic loss", v[0])?;
        let g_loss = check("generator loss", v[4])?;
        let loss = self.cfg.loss;
        Ok(StepStats {
            d_loss,
            g_loss,
            wasserstein: loss.is_wasserstein().then_some(v[1] as f64),
            acc_real: (!loss.is_wasserstein()).then_some(v[1] as f64),
            acc_fake: (!loss.is_wasserstein()).then_some(v[2] as f64),
            grad_norm: loss.has_penalty().then_some(v[3] as f64),
            g_grad_norm,
        })
    }

    /// Generates samples from the trained weights (not their moving average) in inference mode
    /// (batch norm uses running statistics): `[n, data_dim]` row-major values in `[-1, 1]` (or toy
    /// points).
    pub fn generate(&self, z: &[f32], labels: Option<&[u8]>) -> Vec<f32> {
        generate(
            &self.generator.valid(),
            z,
            labels,
            &self.device.clone().inner(),
        )
    }
}

/// `‖∂L/∂θ‖` over every parameter θ of `m` that has a gradient in `grads`.
fn gradient_norm<M: Module>(m: &M, grads: &Gradients) -> f64 {
    struct SquaredSum<'a> {
        grads: &'a Gradients,
        sum: Vec<Tensor<1>>,
    }
    impl burn::module::ModuleVisitor for SquaredSum<'_> {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            if let Some(g) = p.val().grad(self.grads) {
                self.sum.push(g.square().sum());
            }
        }
    }
    let mut v = SquaredSum {
        grads,
        sum: Vec::new(),
    };
    m.visit(&mut v);
    if v.sum.is_empty() {
        return 0.0;
    }
    Tensor::cat(v.sum, 0).sum().into_scalar::<f64>().sqrt()
}

/// The critic's side of an objective, as one loss tensor.
#[derive(Clone, Copy, Debug)]
pub struct CriticObjective {
    /// The objective.
    pub loss: Loss,
    /// Penalty weight λ.
    pub lambda: f64,
    /// Weight of the R1 penalty `mean ‖∇ₓ f(real)‖²` on this step (0 = none).
    pub r1_weight: f64,
}

impl CriticObjective {
    /// The critic loss for a batch of `real` and `fake` samples (`[B, D]` each) and the figures
    /// `[loss, wasserstein | acc_real, 0 | acc_fake, grad_norm | 0]` (detached).
    ///
    /// `eps` holds the interpolation weights `[B, 1]`: one tensor for `wgan-gp`/`wgan-lp`, two for
    /// `wgan-fd`, none otherwise. Real, fake and interpolated samples go through the critic in ONE
    /// batched pass; the penalty's input gradient reuses that pass's activations.
    pub fn evaluate(
        &self,
        critic: &Critic,
        w: &CriticWeights,
        real: Tensor<2>,
        fake: Tensor<2>,
        eps: &[Tensor<2>],
        y: Option<Tensor<2>>,
    ) -> (Tensor<1>, Tensor<1>) {
        let b = real.dims()[0];
        let mut parts = vec![real.clone(), fake.clone()];
        for e in eps {
            parts.push(real.clone() * e.clone() + fake.clone() * e.clone().neg().add_scalar(1.0));
        }
        let n_parts = parts.len();
        let x = Tensor::cat(parts, 0);
        let yy = y.map(|y| Tensor::cat(vec![y; n_parts], 0));
        let (scores, trace) = critic.forward_traced(w, x, yy.clone());
        let s_real = scores.clone().narrow(0, 0, b);
        let s_fake = scores.clone().narrow(0, b, b);
        let zero_t = scores.clone().detach().narrow(0, 0, 1).mul_scalar(0.0);
        let zero = || zero_t.clone();
        let (l, f1, f2, gn) = if self.loss.is_wasserstein() {
            let west = s_real.mean() - s_fake.mean();
            let mut l = west.clone().neg();
            let mut gn = zero();
            match self.loss.penalty() {
                Some((true, shape)) => {
                    let g = critic.input_grad(w, &trace, yy, 2 * b, b);
                    let norms = row_norms(g);
                    gn = norms.clone().mean().detach();
                    l = l + lipschitz_penalty(norms, shape).mul_scalar(self.lambda);
                }
                Some((false, shape)) => {
                    let s1 = scores.clone().narrow(0, 2 * b, b);
                    let s2 = scores.narrow(0, 3 * b, b);
                    // ‖y1 − y2‖ = |ε1 − ε2| · ‖x − x̃‖ (inputs are data: no gradient needed).
                    let de = (eps[0].clone() - eps[1].clone()).abs().reshape([b]);
                    let dist = row_norms(real - fake) * de;
                    let q = (s1 - s2).abs() / dist.add_scalar(1e-8);
                    gn = q.clone().mean().detach();
                    l = l + lipschitz_penalty(q, shape).mul_scalar(self.lambda);
                }
                None => {}
            }
            (l, west.detach(), zero(), gn)
        } else {
            let mut l = if self.loss == Loss::Hinge {
                hinge_d_loss(s_real.clone(), s_fake.clone())
            } else {
                gan_d_loss(s_real.clone(), s_fake.clone())
            };
            if self.r1_weight > 0.0 {
                let g = critic.input_grad(w, &trace, yy, 0, b);
                l = l + r1_penalty(g).mul_scalar(self.r1_weight);
            }
            let dtype = s_real.dtype();
            let acc_r = s_real.detach().greater_elem(0.0).float().cast(dtype).mean();
            let acc_f = s_fake.detach().lower_elem(0.0).float().cast(dtype).mean();
            (l, acc_r, acc_f, zero())
        };
        let figures = Tensor::cat(vec![l.clone().detach(), f1, f2, gn], 0);
        (l, figures)
    }
}

/// `avg ← d·avg + (1 − d)·live`, parameter by parameter (`live` may be on the autodiff device).
fn blend(avg: Generator, live: &Generator, d: f64) -> Generator {
    struct Collect(Vec<Tensor<1>>);
    impl burn::module::ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            let t = p.val().without_autodiff();
            let n = t.shape().num_elements();
            self.0.push(t.reshape([n]));
        }
    }
    struct Blend {
        live: std::vec::IntoIter<Tensor<1>>,
        d: f64,
    }
    impl burn::module::ModuleMapper for Blend {
        fn map_float<const D: usize>(
            &mut self,
            p: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let d = self.d;
            let live = self
                .live
                .next()
                .expect("both generators have one structure");
            p.map(|a| {
                let dims = a.dims();
                a.mul_scalar(d).add(live.reshape(dims).mul_scalar(1.0 - d))
            })
        }
    }
    let mut c = Collect(Vec::new());
    live.visit(&mut c);
    avg.map(&mut Blend {
        live: c.0.into_iter(),
        d,
    })
}

/// Fixed latents (and cycling labels) on which an averaged generator's batch norm is measured:
/// `CALIBRATION_BATCHES` batches of the run's batch size.
fn calibration_batches(cfg: &TrainConfig, device: &Device) -> Vec<(Tensor<2>, Option<Tensor<2>>)> {
    let (b, zd, c) = (cfg.batch, cfg.preset.z_dim(), cfg.num_classes());
    let z = fixed_noise(cfg.seed ^ 0xca1b_0a7e, CALIBRATION_BATCHES * b, zd);
    z.chunks(b * zd)
        .map(|chunk| {
            let zt = Tensor::from_data(TensorData::new(chunk.to_vec(), [b, zd]), device);
            let labels: Vec<u8> = (0..b).map(|i| (i % c.max(1)) as u8).collect();
            let y = (c > 0).then(|| onehot_tensor(&labels, c, device));
            (zt, y)
        })
        .collect()
}

/// The iteration a checkpoint was taken at (the whole file is verified).
pub fn checkpoint_iteration(path: &Path) -> anyhow::Result<u64> {
    Ok(read_checkpoint(path)?.1.iteration)
}

/// Reads and verifies a checkpoint and its `state.json`.
fn read_checkpoint(path: &Path) -> anyhow::Result<(Sections, SavedState)> {
    let s = Sections::read(path)?;
    let state = serde_json::from_slice(s.get("state.json", path)?).map_err(|e| {
        CheckpointError::Corrupt {
            path: path.display().to_string(),
            reason: format!("state.json: {e}"),
        }
    })?;
    Ok((s, state))
}

/// The checkpoint's running statistics (generator batch norms first, then spectral-norm vectors).
fn read_running(s: &Sections, path: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
    serde_json::from_slice(s.get("running.json", path)?)
        .map_err(|e| anyhow::anyhow!("checkpoint {}: running.json: {e}", path.display()))
}

/// The generator's batch-norm running mean and variance, in checkpoint order.
fn generator_states(g: &Generator) -> Vec<&RunningState<Tensor<1>>> {
    let bns = [&g.bn0, &g.bn1].into_iter().flatten();
    bns.flat_map(|b| [&b.running_mean, &b.running_var])
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

/// Runs `generator` in inference mode on latents `z` (`n × z_dim`, row-major) and optional labels.
pub fn generate(
    generator: &Generator,
    z: &[f32],
    labels: Option<&[u8]>,
    device: &Device,
) -> Vec<f32> {
    let n = z.len() / generator.z_dim;
    let zt = Tensor::<2>::from_data(TensorData::new(z.to_vec(), [n, generator.z_dim]), device);
    let y = labels
        .filter(|_| generator.num_classes > 0)
        .map(|l| onehot_tensor(l, generator.num_classes, device));
    generator
        .forward(zt, y)
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap_or_default()
}

/// One-hot rows `[labels.len(), classes]` (a label ≥ `classes` marks the last class).
fn onehot_tensor(labels: &[u8], classes: usize, device: &Device) -> Tensor<2> {
    let mut v = vec![0f32; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        v[i * classes + (l as usize).min(classes - 1)] = 1.0;
    }
    Tensor::from_data(TensorData::new(v, [labels.len(), classes]), device)
}

/// Standard-normal latents for the fixed sample grid (independent of the training RNG).
pub fn fixed_noise(seed: u64, n: usize, z_dim: usize) -> Vec<f32> {
    let mut rng = Pcg64::seed_from_u64(seed.wrapping_add(0x5eed_f1ed));
    (0..n * z_dim).map(|_| rng.sample(StandardNormal)).collect()
}

// Placeholders swapped in while the optimiser consumes the real module (cheap: no weights).
fn dummy_critic() -> Critic {
    Critic {
        conv: Vec::new(),
        fc: Vec::new(),
        embed: None,
        sn_u: Vec::new(),
        data_dim: 0,
    }
}

fn dummy_gen() -> Generator {
    Generator {
        fc: Vec::new(),
        bn0: None,
        up1: None,
        bn1: None,
        up2: None,
        z_dim: 0,
        num_classes: 0,
        ch0: 0,
        tanh_out: false,
    }
}

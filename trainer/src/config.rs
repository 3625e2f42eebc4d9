//! What defines a training run, [`TrainConfig`] (saved as `config.json` in the run directory), and
//! the one home of its defaults: the `DEFAULT_*` constants below are read both by the config's
//! `#[config(default)]`s and by the command line's `default_value_t`s.

use burn::prelude::*;

use crate::data::Dataset;
use crate::model::{CriticSize, Preset};
use crate::objective::{Loss, OptimSettings};

/// Model preset when none is given.
pub const DEFAULT_PRESET: Preset = Preset::Tiny;
/// Training data when none is given.
pub const DEFAULT_DATASET: Dataset = Dataset::Mnist;
/// Batch size.
pub const DEFAULT_BATCH: usize = 64;
/// Generator iterations to train for.
pub const DEFAULT_ITERS: u64 = 5000;
/// Penalty weight λ.
pub const DEFAULT_LAMBDA: f64 = 10.0;
/// Weight-clipping bound c for `wgan`.
pub const DEFAULT_CLIP: f64 = 0.01;
/// Seed of the initialisation and of every random draw.
pub const DEFAULT_SEED: u64 = 0;
/// Iterations between two sample grids.
pub const DEFAULT_SAMPLE_EVERY: u64 = 250;
/// Iterations between two checkpoints.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 500;
/// Critic steps between two lazy R1 applications (as StyleGAN2).
pub const DEFAULT_R1_EVERY: u64 = 16;
/// The default decay of the generator's moving average: a half-life of about 140 iterations, about
/// StyleGAN's 10 000 images at batch 64. A longer window lags behind while FCD still falls fast.
pub const DEFAULT_EMA: f64 = 0.995;

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
    #[config(default = "DEFAULT_DATASET")]
    pub dataset: Dataset,
    /// Class-conditional G and D.
    #[config(default = false)]
    pub conditional: bool,
    /// Spectral normalisation in the critic (replaces weight clipping for `wgan`).
    #[config(default = false)]
    pub spectral_norm: bool,
    /// The critic's size; `None` (also every config written before this field existed) means
    /// the preset's own, [`CriticSize::Standard`].
    pub critic: Option<CriticSize>,
    /// Batch size.
    #[config(default = "DEFAULT_BATCH")]
    pub batch: usize,
    /// Generator iterations to train for.
    #[config(default = "DEFAULT_ITERS")]
    pub iters: u64,
    /// Penalty weight λ.
    #[config(default = "DEFAULT_LAMBDA")]
    pub lambda: f64,
    /// Weight-clipping bound c for `wgan`.
    #[config(default = "DEFAULT_CLIP")]
    pub clip: f64,
    /// Seed of the initialisation and of every random draw.
    #[config(default = "DEFAULT_SEED")]
    pub seed: u64,
    /// Write a sample grid every this many iterations.
    #[config(default = "DEFAULT_SAMPLE_EVERY")]
    pub sample_every: u64,
    /// Write a checkpoint every this many iterations.
    #[config(default = "DEFAULT_CHECKPOINT_EVERY")]
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

/// What `--resume` may change in a run from its checkpoint on: the learning rates and the moving
/// average's decay (a cool-down), nothing that defines the models or the objective. The run's
/// config records the new values, so a later resume continues with them bit-exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Retune {
    /// New learning rate of both networks (`--lr`; replaces `lr_g` / `lr_d` unless those are set).
    pub lr: Option<f64>,
    /// New generator learning rate (`--lr-g`).
    pub lr_g: Option<f64>,
    /// New critic learning rate (`--lr-d`).
    pub lr_d: Option<f64>,
    /// New decay of the moving average (`--ema`, > 0: a run keeps its average or its lack of one).
    pub ema: Option<f64>,
}

impl Retune {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == Retune::default()
    }

    /// `cfg` with these changes, checked as a new config is.
    ///
    /// ```
    /// use trainer::config::{Retune, TrainConfig};
    /// use trainer::model::Preset;
    /// use trainer::objective::Loss;
    /// let cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::NsGan);
    /// let cooled = Retune { lr: Some(5e-5), ema: Some(0.999), ..Retune::default() }.apply(&cfg).unwrap();
    /// assert_eq!((cooled.optim.lr_g(), cooled.optim.lr_d(), cooled.ema), (5e-5, 5e-5, Some(0.999)));
    /// // A run without a moving average cannot grow one halfway.
    /// let plain = cfg.clone().with_ema(Some(0.0));
    /// assert!(Retune { ema: Some(0.999), ..Retune::default() }.apply(&plain).is_err());
    /// ```
    pub fn apply(&self, cfg: &TrainConfig) -> anyhow::Result<TrainConfig> {
        let mut out = cfg.clone();
        out.optim.set_rates(self.lr, self.lr_g, self.lr_d);
        if let Some(e) = self.ema {
            anyhow::ensure!(
                cfg.keeps_average() && e > 0.0,
                "--ema {e} on --resume: a run keeps the moving average it started with (or its \
                 lack of one); only its decay can change, to a value in (0, 1)"
            );
            out.ema = Some(e);
        }
        out.validate()?;
        Ok(out)
    }
}

/// Whether `preset` trains class-conditional G and D unless told otherwise (`--conditional
/// false|true`): `tiny` and `dcgan` do, from the conditioning study (`docs/study/tiny-cond`: at
/// equal CPU time the conditional `tiny` reached FCD about 5× lower than the unconditional one, and the
/// board draws the digit it asks for); `mlp` and `toy` do not (not studied; `toy` has no classes).
pub fn default_conditional(preset: Preset) -> bool {
    matches!(preset, Preset::Tiny | Preset::Dcgan)
}

/// The data a preset trains on: the toy preset always learns the 2-D ring, the image presets
/// `requested` (the one place this rule lives).
pub fn dataset_for(preset: Preset, requested: Dataset) -> Dataset {
    if preset == Preset::Toy {
        Dataset::Gaussians8
    } else {
        requested
    }
}

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

    /// The critic's size ([`TrainConfig::critic`], else the preset's own).
    pub fn critic_size(&self) -> CriticSize {
        self.critic.unwrap_or_default()
    }

    /// Whether the run keeps a moving average of the generator's weights.
    pub fn keeps_average(&self) -> bool {
        self.ema.unwrap_or(DEFAULT_EMA) > 0.0
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

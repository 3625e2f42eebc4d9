//! The objectives of `docs/objectives.md` as loss tensors, with their defaults.
//!
//! The GAN family's discriminator is `D(x) = sigmoid(f(x))`; its losses are written on the logits
//! `f(x)` with `softplus`, which is the same value as binary cross-entropy on `D(x)` but never takes
//! the log of 0.

use burn::prelude::*;
use burn::tensor::activation::{relu, softplus};
use serde::{Deserialize, Serialize};

use crate::model::Preset;

/// A training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Minimax GAN (saturating generator loss).
    Gan,
    /// Non-saturating GAN.
    NsGan,
    /// Hinge loss (the usual partner of spectral norm).
    Hinge,
    /// WGAN with weight clipping.
    Wgan,
    /// WGAN with the two-sided gradient penalty `(‖∇f‖ − 1)²`.
    WganGp,
    /// WGAN with Su's one-sided, linear gradient penalty `max(‖∇f‖, 1)`.
    WganLp,
    /// WGAN with the one-sided squared hinge `max(0, ‖∇f‖ − 1)²` (Petzka et al.).
    WganLpSquared,
    /// WGAN with the finite-difference Lipschitz penalty `(q − 1)²`.
    WganFd,
    /// WGAN with Su's one-sided finite-difference penalty `max(q, 1)`.
    WganFdOneSided,
}

/// How a penalty turns per-sample Lipschitz estimates `q` (gradient norms or difference
/// quotients) into a loss term (before the weight λ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PenaltyShape {
    /// `mean (q − 1)²`: every slope pulled towards 1.
    TwoSided,
    /// `mean max(q, 1)`: Su's linear hinge; only slopes above 1 get a gradient.
    OneSidedLinear,
    /// `mean max(0, q − 1)²`: the squared hinge.
    OneSidedSquared,
}

/// Which optimiser to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Adam.
    Adam,
    /// RMSProp (no momentum).
    Rmsprop,
}

/// Optimiser hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimSettings {
    /// The optimiser.
    pub kind: OptimizerKind,
    /// Learning rate (both networks, unless `lr_g` / `lr_d` say otherwise).
    pub lr: f64,
    /// The generator's own learning rate (two time-scales), if set.
    #[serde(default)]
    pub lr_g: Option<f64>,
    /// The critic's own learning rate (two time-scales), if set.
    #[serde(default)]
    pub lr_d: Option<f64>,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
}

/// What `tinygan train` trains when no `--loss` is named: an objective and the settings that go
/// with it. Each preset's is the winner of the recipe study (`scripts/recipe-study.sh`,
/// `docs/study/`): the recipe that reached the best FCD for the same CPU time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recipe {
    /// The objective.
    pub loss: Loss,
    /// Spectral normalisation in the critic.
    pub spectral_norm: bool,
    /// R1 weight γ on real digits, if any.
    pub r1: Option<f64>,
    /// Critic steps per generator step.
    pub n_critic: usize,
    /// Optimiser settings.
    pub optim: OptimSettings,
}

impl Recipe {
    /// `loss` with its own defaults (optimiser, k), no spectral norm, no R1.
    pub fn of(loss: Loss) -> Recipe {
        Recipe {
            loss,
            spectral_norm: false,
            r1: None,
            n_critic: loss.default_n_critic(),
            optim: loss.default_optim(),
        }
    }

    /// The default recipe of `preset`. `tiny`: NS-GAN with lazy R1 (γ = 1), the best FCD of the
    /// recipe study at equal CPU time (`docs/study/tiny/study.md`); `dcgan` has the same critic,
    /// so it gets the same. The MLP and toy presets keep WGAN-GP (not studied).
    pub fn default_for(preset: Preset) -> Recipe {
        match preset {
            Preset::Tiny | Preset::Dcgan => Recipe {
                r1: Some(1.0),
                ..Recipe::of(Loss::NsGan)
            },
            Preset::Mlp | Preset::Toy => Recipe::of(Loss::WganGp),
        }
    }
}

impl OptimSettings {
    /// Sets the learning rates given: `lr` for both networks (dropping their own rates), then
    /// `lr_g` / `lr_d` for one network each (the `--lr`, `--lr-g`, `--lr-d` rule, at the start of
    /// a run and on `--resume`).
    pub fn set_rates(&mut self, lr: Option<f64>, lr_g: Option<f64>, lr_d: Option<f64>) {
        if let Some(lr) = lr {
            (self.lr, self.lr_g, self.lr_d) = (lr, None, None);
        }
        self.lr_g = lr_g.or(self.lr_g);
        self.lr_d = lr_d.or(self.lr_d);
    }

    /// The generator's learning rate.
    pub fn lr_g(&self) -> f64 {
        self.lr_g.unwrap_or(self.lr)
    }

    /// The critic's learning rate.
    pub fn lr_d(&self) -> f64 {
        self.lr_d.unwrap_or(self.lr)
    }
}

impl Loss {
    /// Name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Gan => "gan",
            Loss::NsGan => "ns-gan",
            Loss::Hinge => "hinge",
            Loss::Wgan => "wgan",
            Loss::WganGp => "wgan-gp",
            Loss::WganLp => "wgan-lp",
            Loss::WganLpSquared => "wgan-lp-squared",
            Loss::WganFd => "wgan-fd",
            Loss::WganFdOneSided => "wgan-fd-one-sided",
        }
    }

    /// Whether this is the Wasserstein family (a critic whose score difference estimates W₁).
    pub fn is_wasserstein(self) -> bool {
        !matches!(self, Loss::Gan | Loss::NsGan | Loss::Hinge)
    }

    /// Whether the critic loss has a Lipschitz penalty on interpolates.
    pub fn has_penalty(self) -> bool {
        self.penalty().is_some()
    }

    /// The Lipschitz penalty: whether it measures slopes by the input gradient (`true`) or by
    /// finite differences (`false`), and its shape.
    pub fn penalty(self) -> Option<(bool, PenaltyShape)> {
        match self {
            Loss::WganGp => Some((true, PenaltyShape::TwoSided)),
            Loss::WganLp => Some((true, PenaltyShape::OneSidedLinear)),
            Loss::WganLpSquared => Some((true, PenaltyShape::OneSidedSquared)),
            Loss::WganFd => Some((false, PenaltyShape::TwoSided)),
            Loss::WganFdOneSided => Some((false, PenaltyShape::OneSidedLinear)),
            Loss::Gan | Loss::NsGan | Loss::Hinge | Loss::Wgan => None,
        }
    }

    /// Interpolates drawn per critic step: one for gradient penalties, two (a pair) for
    /// finite-difference penalties.
    pub fn interpolate_draws(self) -> usize {
        match self.penalty() {
            Some((true, _)) => 1,
            Some((false, _)) => 2,
            None => 0,
        }
    }

    /// Whether an R1 penalty can be added (the discriminator's loss of the GAN family and hinge).
    pub fn allows_r1(self) -> bool {
        !self.is_wasserstein()
    }

    /// Default critic steps per generator step (k): 5 for the WGAN family, 1 otherwise.
    pub fn default_n_critic(self) -> usize {
        if self.is_wasserstein() { 5 } else { 1 }
    }

    /// Default optimiser: RMSProp(5e-5) for `wgan`, Adam(1e-4, 0.5, 0.9) for the penalties,
    /// Adam(2e-4, 0.5, 0.999) for the GAN family.
    pub fn default_optim(self) -> OptimSettings {
        match self {
            Loss::Wgan => OptimSettings {
                kind: OptimizerKind::Rmsprop,
                lr: 5e-5,
                lr_g: None,
                lr_d: None,
                beta1: 0.0,
                beta2: 0.0,
            },
            Loss::WganGp
            | Loss::WganLp
            | Loss::WganLpSquared
            | Loss::WganFd
            | Loss::WganFdOneSided => OptimSettings {
                kind: OptimizerKind::Adam,
                lr: 1e-4,
                lr_g: None,
                lr_d: None,
                beta1: 0.5,
                beta2: 0.9,
            },
            Loss::Gan | Loss::NsGan => OptimSettings {
                kind: OptimizerKind::Adam,
                lr: 2e-4,
                lr_g: None,
                lr_d: None,
                beta1: 0.5,
                beta2: 0.999,
            },
            // Miyato et al.'s setting with two time-scales: D learns 4× faster than G.
            Loss::Hinge => OptimSettings {
                kind: OptimizerKind::Adam,
                lr: 1e-4,
                lr_g: None,
                lr_d: Some(4e-4),
                beta1: 0.0,
                beta2: 0.9,
            },
        }
    }
}

/// Discriminator loss of the GAN family: BCE(D(real), 1) + BCE(D(fake), 0), on logits.
pub fn gan_d_loss(real_logits: Tensor<1>, fake_logits: Tensor<1>) -> Tensor<1> {
    softplus(real_logits.neg(), 1.0).mean() + softplus(fake_logits, 1.0).mean()
}

/// Hinge discriminator loss: `mean relu(1 − f(real)) + mean relu(1 + f(fake))`.
pub fn hinge_d_loss(real_scores: Tensor<1>, fake_scores: Tensor<1>) -> Tensor<1> {
    relu(real_scores.neg().add_scalar(1.0)).mean() + relu(fake_scores.add_scalar(1.0)).mean()
}

/// Generator loss. GAN: `mean log(1 − D(G(z)))` (saturating, minimised);
/// NS-GAN: `−mean log D(G(z))`; hinge and the WGAN family: `−mean f(G(z))`.
pub fn generator_loss(loss: Loss, fake_scores: Tensor<1>) -> Tensor<1> {
    match loss {
        // log(1 − σ(l)) = −softplus(l)
        Loss::Gan => softplus(fake_scores, 1.0).mean().neg(),
        // −log σ(l) = softplus(−l)
        Loss::NsGan => softplus(fake_scores.neg(), 1.0).mean(),
        _ => fake_scores.mean().neg(),
    }
}

/// A Lipschitz penalty on per-sample slopes `q` (gradient norms or difference quotients), in the
/// given shape (see [`PenaltyShape`]), before the weight λ.
pub fn lipschitz_penalty(q: Tensor<1>, shape: PenaltyShape) -> Tensor<1> {
    match shape {
        PenaltyShape::TwoSided => q.sub_scalar(1.0).square().mean(),
        PenaltyShape::OneSidedLinear => q.clamp_min(1.0).mean(),
        PenaltyShape::OneSidedSquared => q.sub_scalar(1.0).clamp_min(0.0).square().mean(),
    }
}

/// The R1 penalty's mean squared gradient norm on real samples, `mean ‖∇ₓ D(x)‖²` for `g` `[N, D]`
/// (its weight γ/2 is applied by the caller).
pub fn r1_penalty(g: Tensor<2>) -> Tensor<1> {
    g.square().sum_dim(1).mean().reshape([1])
}

/// Per-row Euclidean norm of `g` `[N, D]`, `[N]`. A tiny constant keeps the derivative finite at 0.
pub fn row_norms(g: Tensor<2>) -> Tensor<1> {
    let n = g.dims()[0];
    g.square().sum_dim(1).add_scalar(1e-12).sqrt().reshape([n])
}

//! The objectives of ../shared/docs/gan-objectives.md as loss tensors, with their defaults.
//!
//! The GAN family's discriminator is `D(x) = sigmoid(f(x))`; its losses are written on the logits
//! `f(x)` with `softplus`, which is the same value as binary cross-entropy on `D(x)` but never takes
//! the log of 0.

use burn::prelude::*;
use burn::tensor::activation::softplus;
use serde::{Deserialize, Serialize};

/// A training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Minimax GAN (saturating generator loss).
    Gan,
    /// Non-saturating GAN.
    NsGan,
    /// WGAN with weight clipping.
    Wgan,
    /// WGAN with the two-sided gradient penalty.
    WganGp,
    /// WGAN with the one-sided gradient penalty.
    WganLp,
    /// WGAN with the finite-difference Lipschitz penalty.
    WganFd,
}

/// Which optimiser to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
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
    /// Learning rate (both networks).
    pub lr: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
}

impl Loss {
    /// Name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Gan => "gan",
            Loss::NsGan => "ns-gan",
            Loss::Wgan => "wgan",
            Loss::WganGp => "wgan-gp",
            Loss::WganLp => "wgan-lp",
            Loss::WganFd => "wgan-fd",
        }
    }

    /// Whether this is the Wasserstein family (raw critic, no sigmoid).
    pub fn is_wasserstein(self) -> bool {
        !matches!(self, Loss::Gan | Loss::NsGan)
    }

    /// Whether the critic loss has a penalty term (needs interpolates).
    pub fn has_penalty(self) -> bool {
        matches!(self, Loss::WganGp | Loss::WganLp | Loss::WganFd)
    }

    /// Whether the penalty needs the critic's input gradient.
    pub fn needs_input_grad(self) -> bool {
        matches!(self, Loss::WganGp | Loss::WganLp)
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
                beta1: 0.0,
                beta2: 0.0,
            },
            Loss::WganGp | Loss::WganLp | Loss::WganFd => OptimSettings {
                kind: OptimizerKind::Adam,
                lr: 1e-4,
                beta1: 0.5,
                beta2: 0.9,
            },
            Loss::Gan | Loss::NsGan => OptimSettings {
                kind: OptimizerKind::Adam,
                lr: 2e-4,
                beta1: 0.5,
                beta2: 0.999,
            },
        }
    }
}

/// Discriminator loss of the GAN family: BCE(D(real), 1) + BCE(D(fake), 0), on logits.
pub fn gan_d_loss(real_logits: Tensor<1>, fake_logits: Tensor<1>) -> Tensor<1> {
    softplus(real_logits.neg(), 1.0).mean() + softplus(fake_logits, 1.0).mean()
}

/// Generator loss. GAN: `mean log(1 − D(G(z)))` (saturating, minimised);
/// NS-GAN: `−mean log D(G(z))`; WGAN family: `−mean f(G(z))`.
pub fn generator_loss(loss: Loss, fake_scores: Tensor<1>) -> Tensor<1> {
    match loss {
        // log(1 − σ(l)) = −softplus(l)
        Loss::Gan => softplus(fake_scores, 1.0).mean().neg(),
        // −log σ(l) = softplus(−l)
        Loss::NsGan => softplus(fake_scores.neg(), 1.0).mean(),
        _ => fake_scores.mean().neg(),
    }
}

/// Penalty on per-sample gradient norms: `mean (‖g‖ − 1)²`, or the one-sided
/// `mean max(0, ‖g‖ − 1)²`.
pub fn norm_penalty(norms: Tensor<1>, one_sided: bool) -> Tensor<1> {
    let d = norms.sub_scalar(1.0);
    let d = if one_sided { d.clamp_min(0.0) } else { d };
    d.square().mean()
}

/// Per-row Euclidean norm of `g` `[N, D]`, `[N]`. A tiny constant keeps the derivative finite at 0.
pub fn row_norms(g: Tensor<2>) -> Tensor<1> {
    let n = g.dims()[0];
    g.square().sum_dim(1).add_scalar(1e-12).sqrt().reshape([n])
}

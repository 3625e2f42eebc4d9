//! One training step: the critic's side of every objective ([`CriticObjective`]), `n_critic`
//! critic updates and one generator update ([`Trainer::step`]), and the figures they report.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Gradients;
use rand::Rng;

use crate::ema::blend;
use crate::model::{Critic, CriticWeights, Generator};
use crate::objective::{
    Loss, gan_d_loss, generator_loss, hinge_d_loss, lipschitz_penalty, r1_penalty, row_norms,
};
use crate::sample::LabelError;
use crate::train::Trainer;

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
    /// A label of the batch is not one of the model's classes.
    #[error(transparent)]
    Label(#[from] LabelError),
}

/// The critic's figures of one step, detached and still on the device: read all at once
/// ([`CriticFigures::read`]) to sync with the device once per iteration.
#[derive(Clone, Debug)]
pub struct CriticFigures {
    /// The critic loss (penalty included), `[1]`.
    pub loss: Tensor<1>,
    /// `mean f(real) − mean f(fake)` (WGAN family), `[1]`.
    pub wasserstein: Option<Tensor<1>>,
    /// Shares of real and fake samples classified correctly (GAN family), `[1]` each.
    pub accuracy: Option<(Tensor<1>, Tensor<1>)>,
    /// Mean slope at the interpolates (penalty family), `[1]`.
    pub grad_norm: Option<Tensor<1>>,
}

/// [`CriticFigures`] read back as numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CriticValues {
    /// The critic loss.
    pub loss: f32,
    /// See [`CriticFigures::wasserstein`].
    pub wasserstein: Option<f32>,
    /// See [`CriticFigures::accuracy`].
    pub accuracy: Option<(f32, f32)>,
    /// See [`CriticFigures::grad_norm`].
    pub grad_norm: Option<f32>,
}

impl CriticFigures {
    /// Reads these figures and `extra` (e.g. the generator loss, `[1]`) in one transfer.
    pub fn read(self, extra: Tensor<1>) -> (CriticValues, f32) {
        let mut parts = vec![self.loss, extra];
        let w = self.wasserstein.map(|t| parts.push(t)).is_some();
        let acc = self.accuracy.map(|(r, f)| parts.extend([r, f])).is_some();
        let gn = self.grad_norm.map(|t| parts.push(t)).is_some();
        let v: Vec<f32> = Tensor::cat(parts, 0)
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap_or_default();
        let mut it = v.into_iter();
        let mut next = || it.next().unwrap_or(f32::NAN);
        let (loss, extra) = (next(), next());
        let wasserstein = w.then(&mut next);
        let accuracy = acc.then(|| (next(), next()));
        let grad_norm = gn.then(&mut next);
        let values = CriticValues {
            loss,
            wasserstein,
            accuracy,
            grad_norm,
        };
        (values, extra)
    }
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
    /// The critic loss for a batch of `real` and `fake` samples (`[B, D]` each) and its figures
    /// (detached).
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
    ) -> (Tensor<1>, CriticFigures) {
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
        if self.loss.is_wasserstein() {
            let west = s_real.mean() - s_fake.mean();
            let mut l = west.clone().neg();
            let mut grad_norm = None;
            match (self.loss.penalty(), eps) {
                (Some((true, shape)), _) => {
                    let g = critic.input_grad(w, &trace, yy, 2 * b, b);
                    let norms = row_norms(g);
                    grad_norm = Some(norms.clone().mean().detach());
                    l = l + lipschitz_penalty(norms, shape).mul_scalar(self.lambda);
                }
                (Some((false, shape)), [e1, e2, ..]) => {
                    let s1 = scores.clone().narrow(0, 2 * b, b);
                    let s2 = scores.narrow(0, 3 * b, b);
                    // ‖y1 − y2‖ = |ε1 − ε2| · ‖x − x̃‖ (inputs are data: no gradient needed).
                    let de = (e1.clone() - e2.clone()).abs().reshape([b]);
                    let dist = row_norms(real - fake) * de;
                    let q = (s1 - s2).abs() / dist.add_scalar(1e-8);
                    grad_norm = Some(q.clone().mean().detach());
                    l = l + lipschitz_penalty(q, shape).mul_scalar(self.lambda);
                }
                _ => {}
            }
            let figures = CriticFigures {
                loss: l.clone().detach(),
                wasserstein: Some(west.detach()),
                accuracy: None,
                grad_norm,
            };
            (l, figures)
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
            let figures = CriticFigures {
                loss: l.clone().detach(),
                wasserstein: None,
                accuracy: Some((acc_r, acc_f)),
                grad_norm: None,
            };
            (l, figures)
        }
    }
}

impl Trainer {
    /// One critic update; returns its figures (detached, read once per iteration).
    fn critic_step(&mut self, r1_weight: f64) -> Result<CriticFigures, StepError> {
        let b = self.cfg.batch;
        let loss = self.cfg.loss;
        let (real, labels) = self.real_batch(b);
        let y = self.onehot(&labels)?;
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
        let lr = self.cfg.optim.lr_d();
        let clip = (loss == Loss::Wgan && !self.cfg.spectral_norm).then_some(self.cfg.clip);
        let opt = &mut self.opt_d;
        update(&mut self.critic, Critic::placeholder(), |critic| {
            let critic = opt.step(lr, critic, grads);
            match clip {
                Some(c) => critic.clip(c),
                None => critic,
            }
        });
        Ok(figures)
    }

    /// One generator iteration: `n_critic` critic updates, then one generator update.
    pub fn step(&mut self) -> Result<StepStats, StepError> {
        let k = self.cfg.n_critic as u64;
        let mut figures = self.critic_step(self.cfg.r1_weight(self.iteration * k))?;
        for j in 1..k {
            figures = self.critic_step(self.cfg.r1_weight(self.iteration * k + j))?;
        }
        let b = self.cfg.batch;
        let labels = self.random_labels(b);
        let y = self.onehot(&labels)?;
        let z = self.noise(b);
        let fake = self.generator.forward(z, y.clone());
        let frozen = self.critic.clone().no_grad();
        let w = frozen.weights(false);
        let scores = frozen.forward(&w, fake, y);
        let g_loss = generator_loss(self.cfg.loss, scores);
        let grads = g_loss.backward();
        let g_grad_norm = gradient_norm(&self.generator, &grads);
        let grads = GradientsParams::from_grads(grads, &self.generator);
        let lr = self.cfg.optim.lr_g();
        let opt = &mut self.opt_g;
        update(&mut self.generator, Generator::placeholder(), |generator| {
            opt.step(lr, generator, grads)
        });
        self.iteration += 1;
        if let Some(ema) = self.ema.take() {
            let decay = self.cfg.ema_decay(self.iteration);
            self.ema = Some(blend(ema, &self.generator, decay));
        }

        let (critic, g_loss) = figures.read(g_loss.detach());
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
        Ok(StepStats {
            d_loss: check("critic loss", critic.loss)?,
            g_loss: check("generator loss", g_loss)?,
            wasserstein: critic.wasserstein.map(f64::from),
            acc_real: critic.accuracy.map(|(r, _)| r as f64),
            acc_fake: critic.accuracy.map(|(_, f)| f as f64),
            grad_norm: critic.grad_norm.map(f64::from),
            g_grad_norm,
        })
    }
}

/// Replaces the module in `slot` by `f(module)`. Burn's optimisers take a module by value and return
/// the updated one; moving it out (instead of cloning) keeps its tensors unshared, so the update
/// can reuse their memory. `placeholder` (weightless) fills the slot meanwhile.
fn update<M>(slot: &mut M, placeholder: M, f: impl FnOnce(M) -> M) {
    let m = std::mem::replace(slot, placeholder);
    *slot = f(m);
}

/// `‖∂L/∂θ‖` over every parameter θ of `m` that has a gradient in `grads`.
fn gradient_norm<M: Module>(m: &M, grads: &Gradients) -> f64 {
    struct SquaredSum<'a> {
        grads: &'a Gradients,
        sum: Vec<Tensor<1>>,
    }
    impl ModuleVisitor for SquaredSum<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
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

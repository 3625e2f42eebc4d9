//! The penalties are the real thing: the gradient Burn computes for the critic's weights (through
//! the hand-written input gradient) equals central finite differences of the FULL critic loss
//! (e.g. `mean f(fake) − mean f(real) + λ mean(‖∇f(x̂)‖ − 1)²`), second-derivative terms included:
//! every Lipschitz penalty (two-sided, Su's linear one-sided, the squared hinge, finite
//! differences), R1 on real samples, MLP, conv and conditional (projection) critics.
//!
//! Runs in f64 on the CPU backend (its own test binary, since the device's default dtype is
//! process-wide). Criterion: |g − D| ≤ RTOL·|D| + (a rounding bound derived in
//! [`rounding_bound`]) for every probed weight, with D the Richardson-extrapolated central
//! difference; and the same check FAILS if the penalty's second-derivative term is dropped
//! (input gradient detached).
//!
//! Deterministic: every critic's weights are drawn under the trainer's init lock
//! ([`init_seeded`]), so parallel tests cannot interleave their draws, and inputs come from a
//! fixed LCG.

use burn::prelude::*;
use burn::tensor::FloatDType;
use trainer::model::{Critic, CriticConfig, CriticWeights, Preset, init_seeded};
use trainer::objective::Loss;
use trainer::step::CriticObjective;

fn device() -> Device {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let mut d = Device::flex();
        d.configure(FloatDType::F64)
            .expect("configure f64 before any tensor");
    });
    Device::flex()
}

/// Critic weights that are a function of `seed` alone: tests run in parallel, the seed is the
/// device's (not the thread's) and Burn draws parameters lazily, so every parameter is drawn under
/// the trainer's init lock. (Drawn lazily, outside a lock, a parallel test could interleave its
/// draws: that made this file's outcome vary from run to run.)
fn init_critic(cfg: CriticConfig, dev: &Device, seed: u64) -> Critic {
    init_seeded(dev, seed, |d| cfg.init(d))
}

fn rand_t(dev: &Device, rows: usize, cols: usize, seed: u64, lo: f64, hi: f64) -> Tensor<2> {
    // A small LCG keeps the inputs independent of any RNG crate.
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f64> = (0..rows * cols)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), dev)
}

struct Inputs {
    real: Tensor<2>,
    fake: Tensor<2>,
    eps: Vec<Tensor<2>>,
    /// One-hot labels (conditional critics).
    y: Option<Tensor<2>>,
}

fn inputs(dev: &Device, dim: usize, b: usize, draws: usize, classes: usize) -> Inputs {
    Inputs {
        real: rand_t(dev, b, dim, 1, -1.0, 1.0),
        fake: rand_t(dev, b, dim, 2, -1.0, 1.0),
        eps: (0..draws)
            .map(|i| rand_t(dev, b, 1, 10 + i as u64, 0.0, 1.0))
            .collect(),
        y: (classes > 0).then(|| {
            // Row r is class (3r + 1) mod classes.
            let v: Vec<f64> = (0..b * classes)
                .map(|i| f64::from(u8::from(i % classes == (3 * (i / classes) + 1) % classes)))
                .collect();
            Tensor::from_data(TensorData::new(v, [b, classes]), dev)
        }),
    }
}

impl Inputs {
    /// The critic loss of `obj` on these inputs, with weights `w`.
    fn loss(&self, obj: CriticObjective, critic: &Critic, w: &CriticWeights) -> Tensor<1> {
        let (l, _) = obj.evaluate(
            critic,
            w,
            self.real.clone(),
            self.fake.clone(),
            &self.eps,
            self.y.clone(),
        );
        l
    }

    /// Per-sample slopes the penalty of `loss` sees: input-gradient norms at the interpolates, or
    /// the difference quotients of the interpolate pairs.
    fn slopes(&self, loss: Loss, critic: &Critic) -> Vec<f64> {
        let w = critic.weights(false);
        let b = self.real.dims()[0];
        let mix = |e: &Tensor<2>| {
            self.real.clone() * e.clone() + self.fake.clone() * e.clone().neg().add_scalar(1.0)
        };
        let q = if loss.interpolate_draws() == 1 {
            let (_, trace) = critic.forward_traced(&w, mix(&self.eps[0]), self.y.clone());
            let g = critic.input_grad(&w, &trace, self.y.clone(), 0, b);
            g.square().sum_dim(1).sqrt().reshape([b])
        } else {
            let s1 = critic.forward(&w, mix(&self.eps[0]), self.y.clone());
            let s2 = critic.forward(&w, mix(&self.eps[1]), self.y.clone());
            let d = (mix(&self.eps[0]) - mix(&self.eps[1]))
                .square()
                .sum_dim(1)
                .sqrt()
                .reshape([b]);
            (s1 - s2).abs() / d
        };
        q.into_data().try_into_vec_as::<f64>().unwrap()
    }
}

fn loss_value(critic: &Critic, obj: CriticObjective, inp: &Inputs) -> f64 {
    inp.loss(obj, critic, &critic.weights(false))
        .into_scalar::<f64>()
}

/// Which weight to probe: (layer kind, layer index, flat element indices).
enum Probe {
    Fc(usize, Vec<usize>),
    Conv(usize, Vec<usize>),
}

fn with_weight(critic: &Critic, probe_is_fc: bool, layer: usize, idx: usize, delta: f64) -> Critic {
    let mut c = critic.clone();
    let dev = c.out.weight.val().device();
    let bump = |t: Tensor<2>| -> Tensor<2> {
        let dims = t.dims();
        let mut v = vec![0f64; dims[0] * dims[1]];
        v[idx] = delta;
        t + Tensor::from_data(TensorData::new(v, dims), &dev)
    };
    if probe_is_fc {
        let mut linears = c.linears_mut();
        linears[layer].weight = linears[layer].weight.clone().map(bump);
    } else {
        let convs = c.convs_mut();
        convs[layer].weight = convs[layer].weight.clone().map(|t| {
            let dims = t.dims();
            let flat = bump(t.reshape([dims[0], dims[1] * dims[2] * dims[3]]));
            flat.reshape(dims)
        });
    }
    c
}

/// One gradient check: a critic, an objective, and how to prepare it.
struct Case {
    preset: Preset,
    loss: Loss,
    /// Conditional critic (its projection term ⟨embed(y), h(x)⟩ included), 0 for none.
    classes: usize,
    /// R1 weight on real samples (GAN family and hinge).
    r1_weight: f64,
    /// Scale the output layer so that the penalty's slopes lie on both sides of 1: a one-sided
    /// penalty is then active on some samples and inactive on others.
    straddle: bool,
}

impl Case {
    fn new(preset: Preset, loss: Loss) -> Self {
        Case {
            preset,
            loss,
            classes: 0,
            r1_weight: 0.0,
            straddle: false,
        }
    }
}

/// Step of the central differences.
const H: f64 = 1e-5;

/// Relative part of the tolerance. After Richardson extrapolation the O(h²) truncation error is
/// gone and the O(h⁴) one is ~1e-20 relative; the rest is f64 rounding, bounded absolutely below.
const RTOL: f64 = 1e-7;

/// The absolute part of the tolerance, derived from the arithmetic. One loss evaluation in f64
/// sums products along chains of at most `n` terms (the widest fan-in of the critic); such a sum
/// has a rounding error of at most n·ε times the sum of the magnitudes of its terms, which here is
/// of the order of the loss itself, |L| (≥ 1 is assumed). A central difference divides the
/// difference of two evaluations by 2h, so it carries at most 2·n·ε·|L| / (2h) = n·ε·|L|/h; the
/// Richardson combination (4·D(h/2) − D(h)) / 3 weighs the step-h/2 difference (error ≤ 2n·ε·|L|/h)
/// by 4/3 and the step-h one by 1/3, in all < 3·n·ε·|L|/h. (For the conv critic, n = 6272 and
/// |L| ≈ 10 give ≈ 4e-7; the gradients probed are 1e-3 to 1, and dropping the second-derivative
/// term moves them by more than 1e-3 relative.)
fn rounding_bound(n: usize, loss_magnitude: f64) -> f64 {
    3.0 * n as f64 * f64::EPSILON * loss_magnitude / H
}

/// Checks the weight gradient of `case`'s critic loss against finite differences at `probes`.
/// Returns the worst ratio error / tolerance (≤ 1 passes).
fn check(case: &Case, probes: &[Probe]) -> f64 {
    let dev = device().autodiff();
    let mut critic = init_critic(
        CriticConfig::new(case.preset).with_num_classes(case.classes),
        &dev,
        3,
    );
    let inp = inputs(&dev, 784, 8, case.loss.interpolate_draws(), case.classes);
    if case.straddle {
        let mut sorted = inp.slopes(case.loss, &critic);
        sorted.sort_by(f64::total_cmp);
        // Half the slopes end above 1, half below, none at the kink itself (between two order
        // statistics, not on one: a sample exactly at 1 would sit on the clamp's kink).
        let mid = sorted.len() / 2;
        let scale = (sorted[mid - 1] * sorted[mid]).sqrt();
        critic.out.weight = critic
            .out
            .weight
            .clone()
            .map(|t| t.div_scalar(scale).detach().require_grad());
        let slopes = inp.slopes(case.loss, &critic);
        let above = slopes.iter().filter(|&&q| q > 1.0).count();
        assert!(
            above > 0 && above < slopes.len(),
            "{:?}: slopes do not straddle 1: {slopes:?}",
            case.loss
        );
    }
    let obj = CriticObjective {
        loss: case.loss,
        lambda: 10.0,
        r1_weight: case.r1_weight,
    };
    let w = critic.weights(false);
    let grads = inp.loss(obj, &critic, &w).backward();
    let loss_magnitude = loss_value(&critic, obj, &inp).abs().max(1.0);
    let fan_in = if case.preset == Preset::Mlp {
        784
    } else {
        6272
    };
    let atol = rounding_bound(fan_in, loss_magnitude);

    let mut worst: f64 = 0.0;
    let mut skipped = 0;
    for probe in probes {
        let (is_fc, layer, idxs) = match probe {
            Probe::Fc(l, i) => (true, *l, i),
            Probe::Conv(l, i) => (false, *l, i),
        };
        let g: Vec<f64> = if is_fc {
            critic.linears()[layer]
                .weight
                .val()
                .grad(&grads)
                .expect("fc grad")
                .into_data()
        } else {
            critic.convs()[layer]
                .weight
                .val()
                .grad(&grads)
                .expect("conv grad")
                .into_data()
        }
        .try_into_vec_as::<f64>()
        .unwrap();
        for &i in idxs {
            let fd_at = |h: f64| {
                let plus = loss_value(&with_weight(&critic, is_fc, layer, i, h), obj, &inp);
                let minus = loss_value(&with_weight(&critic, is_fc, layer, i, -h), obj, &inp);
                (plus - minus) / (2.0 * h)
            };
            let (fd, fd_half) = (fd_at(H), fd_at(H / 2.0));
            // The loss is only piecewise smooth (a LeakyReLU mask or a one-sided clamp flips where
            // its argument crosses 0). A probe whose ±h step straddles such a kink shows as two
            // step sizes that disagree by more than truncation and rounding explain; it says
            // nothing about the gradient, so it is skipped (at most one allowed).
            if (fd - fd_half).abs() > 1e-6 * fd.abs() + 2.0 * atol {
                skipped += 1;
                continue;
            }
            let richardson = (4.0 * fd_half - fd) / 3.0;
            let tol = RTOL * richardson.abs() + atol;
            worst = worst.max((g[i] - richardson).abs() / tol);
        }
    }
    assert!(
        skipped <= 1,
        "{skipped} probes straddled a kink; choose other weights"
    );
    worst
}

fn assert_matches(case: Case, probes: &[Probe]) {
    let worst = check(&case, probes);
    assert!(
        worst <= 1.0,
        "{:?} {:?} classes {} r1 {} straddle {}: error {worst:.3}× the tolerance",
        case.preset,
        case.loss,
        case.classes,
        case.r1_weight,
        case.straddle
    );
}

fn mlp_probes() -> Vec<Probe> {
    vec![
        Probe::Fc(0, vec![0, 777, 40_000]),
        Probe::Fc(1, vec![5, 1000]),
        Probe::Fc(2, vec![3, 200]),
    ]
}

fn conv_probes() -> Vec<Probe> {
    vec![
        Probe::Conv(0, vec![0, 17, 63]),
        Probe::Conv(1, vec![11, 5000]),
        Probe::Fc(0, vec![100, 6000]),
    ]
}

#[test]
fn mlp_critic_penalty_gradient_matches_finite_differences() {
    for loss in [Loss::WganGp, Loss::WganLp, Loss::WganLpSquared] {
        assert_matches(Case::new(Preset::Mlp, loss), &mlp_probes());
    }
}

/// The one-sided penalties with the clamp active on some samples and not on others.
#[test]
fn one_sided_penalties_match_finite_differences_where_the_clamp_acts() {
    for loss in [Loss::WganLp, Loss::WganLpSquared, Loss::WganFdOneSided] {
        let case = Case {
            straddle: true,
            ..Case::new(Preset::Mlp, loss)
        };
        assert_matches(case, &mlp_probes());
    }
}

#[test]
fn conv_critic_penalty_gradient_matches_finite_differences() {
    assert_matches(Case::new(Preset::Tiny, Loss::WganGp), &conv_probes());
}

/// The conditional critic's projection term ⟨embed(y), h(x)⟩ enters the input gradient too.
#[test]
fn conditional_critic_penalty_gradient_matches_finite_differences() {
    for (preset, probes) in [(Preset::Mlp, mlp_probes()), (Preset::Tiny, conv_probes())] {
        let case = Case {
            classes: 10,
            ..Case::new(preset, Loss::WganGp)
        };
        assert_matches(case, &probes);
    }
}

#[test]
fn finite_difference_penalty_gradient_matches() {
    let probes = [Probe::Fc(0, vec![3, 9000]), Probe::Fc(2, vec![7])];
    for loss in [Loss::WganFd, Loss::WganFdOneSided] {
        assert_matches(Case::new(Preset::Mlp, loss), &probes);
    }
}

/// R1 on real samples (a second derivative, as the gradient penalty) for the GAN family and hinge.
#[test]
fn r1_penalty_gradient_matches_finite_differences() {
    for loss in [Loss::NsGan, Loss::Hinge] {
        let case = Case {
            r1_weight: 8.0,
            ..Case::new(Preset::Mlp, loss)
        };
        assert_matches(case, &mlp_probes());
    }
    let case = Case {
        r1_weight: 8.0,
        classes: 10,
        ..Case::new(Preset::Tiny, Loss::NsGan)
    };
    assert_matches(case, &conv_probes());
}

/// With spectral norm the weight gradient treats the power-iteration vectors u, v as constants (as
/// Miyato et al. and PyTorch do), so it is not the derivative of a loss that recomputes u, v from
/// the perturbed weight; the penalty part still runs and stays finite.
#[test]
fn spectral_norm_critic_penalty_is_finite() {
    let dev = device().autodiff();
    let critic = init_critic(
        CriticConfig::new(Preset::Tiny).with_spectral_norm(true),
        &dev,
        4,
    );
    let inp = inputs(&dev, 784, 4, 1, 0);
    let w = critic.weights(true);
    let obj = CriticObjective {
        loss: Loss::WganGp,
        lambda: 10.0,
        r1_weight: 0.0,
    };
    let grads = inp.loss(obj, &critic, &w).backward();
    let g: Vec<f64> = critic.convs()[0]
        .weight
        .val()
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_into_vec_as::<f64>()
        .unwrap();
    assert!(g.iter().all(|v| v.is_finite()) && g.iter().any(|v| *v != 0.0));
}

#[test]
fn hand_written_input_gradient_equals_autodiff_input_gradient() {
    use trainer::model::CriticSize::{Deep, Standard, Wide};
    for (preset, classes, size) in [
        (Preset::Mlp, 0, Standard),
        (Preset::Tiny, 0, Standard),
        (Preset::Tiny, 10, Standard),
        (Preset::Tiny, 0, Wide),
        (Preset::Tiny, 10, Deep),
        (Preset::Mlp, 10, Deep),
    ] {
        let dev = device().autodiff();
        let cfg = CriticConfig::new(preset)
            .with_num_classes(classes)
            .with_size(size);
        let critic = init_critic(cfg, &dev, 5);
        let x = rand_t(&dev, 3, 784, 7, -1.0, 1.0).require_grad();
        let y = inputs(&dev, 784, 3, 0, classes).y;
        let w = critic.weights(false);
        let (out, trace) = critic.forward_traced(&w, x.clone(), y.clone());
        let mine: Vec<f64> = critic
            .input_grad(&w, &trace, y, 0, 3)
            .into_data()
            .try_into_vec_as::<f64>()
            .unwrap();
        let grads = out.sum().backward();
        let auto: Vec<f64> = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_into_vec_as::<f64>()
            .unwrap();
        let worst = mine
            .iter()
            .zip(&auto)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-12,
            "{preset:?} {size:?} classes {classes}: max |difference| {worst:e}"
        );
    }
}

/// The check above can fail: with the second-derivative term removed (penalty computed on a
/// detached input gradient, as a first-order-only implementation would), the weight gradients
/// disagree with finite differences of the full loss, far beyond the tolerance.
#[test]
fn dropping_the_second_derivative_term_is_detected() {
    let dev = device().autodiff();
    let critic = init_critic(CriticConfig::new(Preset::Mlp), &dev, 3);
    let inp = inputs(&dev, 784, 4, 1, 0);
    let obj = CriticObjective {
        loss: Loss::WganGp,
        lambda: 10.0,
        r1_weight: 0.0,
    };
    let w = critic.weights(false);
    // Wasserstein part only + detached penalty = what a first-order implementation differentiates.
    let (l_w, _) = CriticObjective {
        loss: Loss::Wgan,
        lambda: 0.0,
        r1_weight: 0.0,
    }
    .evaluate(&critic, &w, inp.real.clone(), inp.fake.clone(), &[], None);
    let l_full = inp.loss(obj, &critic, &w);
    let penalty = (l_full - l_w.clone()).detach();
    let grads = (l_w + penalty).backward();
    let g: Vec<f64> = critic.linears()[0]
        .weight
        .val()
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_into_vec_as::<f64>()
        .unwrap();
    let i = 777;
    let plus = loss_value(&with_weight(&critic, true, 0, i, H), obj, &inp);
    let minus = loss_value(&with_weight(&critic, true, 0, i, -H), obj, &inp);
    let fd = (plus - minus) / (2.0 * H);
    let tol = RTOL * fd.abs() + rounding_bound(784, loss_value(&critic, obj, &inp).abs().max(1.0));
    let off = (g[i] - fd).abs();
    assert!(
        off > 100.0 * tol,
        "first-order gradient unexpectedly matched (off by {off:e}, tolerance {tol:e})"
    );
}

//! What the 1-D experiments share: a small LeakyReLU MLP with its exact input gradient, the normal
//! distribution's functions, the Kolmogorov–Smirnov statistic and a few tensor conversions.

use anyhow::ensure;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use trainer::model::{LEAKY_SLOPE, lrelu};

/// A 1 → width → width → 1 LeakyReLU MLP (generator, discriminator or critic of a 1-D experiment).
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    /// Builds the network with Burn's default initialisation on `device` (follows the device seed).
    pub fn new(width: usize, device: &Device) -> Self {
        let dims = [1, width, width, 1];
        let layers = dims
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Mlp { layers }
    }

    /// `[n, 1] → [n, 1]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_with_input_grad(x, false).0
    }

    /// The output and, when `with_grad`, its derivative with respect to the input, written as
    /// ordinary tensor ops (back through each layer: `d ← d·Wᵀ ⊙ lrelu'(pre-activation)`) so that
    /// one level of autodiff differentiates penalties built on it (Burn has no double backward).
    pub fn forward_with_input_grad(
        &self,
        mut x: Tensor<2>,
        with_grad: bool,
    ) -> (Tensor<2>, Option<Tensor<2>>) {
        let last = self.layers.len() - 1;
        let mut slopes = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            x = l.forward(x);
            if i < last {
                if with_grad {
                    // lrelu'(z) = slope + (1 − slope)·[z > 0]; the mask itself has no gradient.
                    let mask = x.clone().detach().greater_elem(0.0).float();
                    slopes.push(mask.mul_scalar(1.0 - LEAKY_SLOPE).add_scalar(LEAKY_SLOPE));
                }
                x = lrelu(x);
            }
        }
        if !with_grad {
            return (x, None);
        }
        let n = x.dims()[0];
        let mut d = Tensor::<2>::ones([n, 1], &x.device());
        for (i, l) in self.layers.iter().enumerate().rev() {
            d = d.matmul(l.weight.val().transpose());
            if i > 0 {
                d = d * slopes[i - 1].clone();
            }
        }
        (x, Some(d))
    }
}

/// `n` draws of `N(mean, std²)` as an `[n, 1]` tensor (Burn's generator, seeded per device).
pub fn normal(n: usize, mean: f64, std: f64, device: &Device) -> Tensor<2> {
    Tensor::<2>::random([n, 1], Distribution::Normal(mean, std), device)
}

/// `n` draws of `U[0, 1]` as an `[n, 1]` tensor.
pub fn uniform(n: usize, device: &Device) -> Tensor<2> {
    Tensor::<2>::random([n, 1], Distribution::Uniform(0.0, 1.0), device)
}

/// `[n, 1]` tensor from values.
pub fn column(values: &[f64], device: &Device) -> Tensor<2> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, [values.len(), 1]), device)
}

/// A tensor's values as f64.
pub fn values<const D: usize>(t: Tensor<D>) -> anyhow::Result<Vec<f64>> {
    let v = t
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ensure!(
        v.iter().all(|x| x.is_finite()),
        "a network produced non-finite values"
    );
    Ok(v.into_iter().map(f64::from).collect())
}

/// The mean of a scalar tensor's single value.
pub fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_scalar::<f32>())
}

/// Density of `N(mean, std²)`.
pub fn normal_pdf(x: f64, mean: f64, std: f64) -> f64 {
    let z = (x - mean) / std;
    (-0.5 * z * z).exp() / (std * (2.0 * std::f64::consts::PI).sqrt())
}

/// Standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// erfc with relative error below 1.2e-7 (Numerical Recipes' Chebyshev fit).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Φ⁻¹, the standard normal quantile (Acklam's rational approximation with one Halley step;
/// relative error below 1e-9 on (0, 1)).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step on Φ(x) − p.
    let e = 0.5 * erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The Kolmogorov–Smirnov distance of `samples` from the CDF `cdf`, and its asymptotic p-value
/// (Kolmogorov's distribution, `P(√n·D > t) = 2 Σ (−1)^(k−1) exp(−2k²t²)`).
pub fn ks_test(samples: &[f64], cdf: impl Fn(f64) -> f64) -> (f64, f64) {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() as f64;
    let d = s
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max((f - (i + 1) as f64 / n).abs())
        })
        .fold(0.0, f64::max);
    let t = n.sqrt() * d;
    let p = if t < 0.2 {
        1.0
    } else {
        (1..=100)
            .map(|k| {
                let k = k as f64;
                2.0 * (-1f64).powf(k - 1.0) * (-2.0 * k * k * t * t).exp()
            })
            .sum::<f64>()
            .clamp(0.0, 1.0)
    };
    (d, p)
}

/// The 5% critical value of the KS distance at sample size `n` (asymptotic, `1.358/√n`).
pub fn ks_critical_5pct(n: usize) -> f64 {
    1.358 / (n as f64).sqrt()
}

/// Mean, minimum and maximum.
pub fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, lo, hi)
}

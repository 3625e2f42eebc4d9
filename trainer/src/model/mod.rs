//! The networks: generator and critic for every preset, and the critic's input gradient written as
//! ordinary tensor operations (so the gradient penalty's second derivative is plain autodiff).
//!
//! Shapes (exact, so that speed comparisons with other frameworks are like for like):
//!
//! | preset  | generator | critic |
//! |---------|-----------|--------|
//! | `mlp`   | z(100) → 256 → 512 → 1024 → 784, LeakyReLU(0.2), tanh | 784 → 512 → 256 → 1, LeakyReLU(0.2) |
//! | `dcgan` | z(100) → Linear(256·7·7) → BN → ReLU → ConvT(256→128, k4 s2 p1) → BN → ReLU → ConvT(128→1, k4 s2 p1) → tanh | Conv(1→64, k4 s2 p1) → LReLU(0.2) → Conv(64→128, k4 s2 p1) → LReLU(0.2) → Linear(128·7·7 → 1) |
//! | `tiny`  | as `dcgan` with z(64) and channels 32, 16 (≈ 113k parameters) | as `dcgan` |
//! | `toy`   | z(2) → 256 → 256 → 256 → 2 (for `gaussians8`) | 2 → 256 → 256 → 256 → 1 |
//!
//! The critic never contains batch norm (a gradient penalty needs per-sample gradients). Its output
//! is a raw score; for the GAN family the sigmoid is folded into the (numerically stable) loss.
//! Conditional models append a one-hot label to `z`; the critic adds a projection term
//! `⟨embed(y), h(x)⟩` on its last hidden features.

//!
//! Files: [`generator`] and [`critic`]; the layer helpers both use are here.

mod critic;
mod generator;

use burn::module::{Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};

use crate::kernels::conv_cpu::{self, Geometry};
use crate::kernels::linear_cpu::linear;
use serde::{Deserialize, Serialize};

/// Negative slope of every LeakyReLU (the preset table's, [`runtime_nostd::preset::LEAKY_SLOPE`]).
pub const LEAKY_SLOPE: f64 = runtime_nostd::preset::LEAKY_SLOPE as f64;

/// A model preset: its shapes are defined once, in [`runtime_nostd::preset`] (the table the
/// runtime, the exporter and the firmware read too).
pub use runtime_nostd::preset::Preset;

pub use critic::{Critic, CriticBody, CriticConfig, CriticSize, CriticTrace, CriticWeights};
pub use generator::{ConvGenerator, Generator, GeneratorConfig, MlpGenerator};

pub(crate) fn linear_cfg(d_in: usize, d_out: usize) -> LinearConfig {
    LinearConfig::new(d_in, d_out)
}

/// Replaces a running state's value. Burn's `update` only queues the value for the current
/// thread (`value()`, which inference reads, returns the old one until a sync): sync at once.
pub fn set_running<const D: usize>(state: &RunningState<Tensor<D>>, value: Tensor<D>) {
    state.update(value);
    let _ = state.value_sync();
}

/// Every convolution of the conv presets: 4×4 kernels, stride 2, padding 1
/// ([`runtime_nostd::preset::CONV_4_2_1`]).
pub(crate) const K4S2P1: Geometry = Geometry {
    stride: runtime_nostd::preset::CONV_4_2_1.stride,
    padding: runtime_nostd::preset::CONV_4_2_1.padding,
};

/// Adds a per-channel bias `[C]` to maps `[N, C, H, W]`.
pub(crate) fn add_bias(x: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    match bias {
        Some(b) => {
            let c = b.dims()[0];
            x + b.reshape([1, c, 1, 1])
        }
        None => x,
    }
}

/// A fully connected layer's forward pass through [`linear`] (the threaded GEMM on the CPU
/// backend, Burn's own elsewhere).
pub(crate) fn fc_forward(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    linear(x, layer.weight.val(), layer.bias.as_ref().map(|b| b.val()))
}

/// LeakyReLU(0.2) written as `0.8·relu(x) + 0.2·x`.
///
/// Same values and gradient as `burn::tensor::activation::leaky_relu`, but its backward pass is
/// two cheap element-wise ops: on the CPU backend `leaky_relu`'s backward goes through
/// `mask_where` and took 26 ms instead of 5 ms for a `[128, 64, 14, 14]` map
/// (`trainer/examples/op_profile.rs`), a fifth of a `tiny` training step.
pub fn lrelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    relu(x.clone()).mul_scalar(1.0 - LEAKY_SLOPE) + x.mul_scalar(LEAKY_SLOPE)
}

/// Derivative of LeakyReLU(0.2) at `pre`: 0.2 + 0.8·[pre > 0].
pub(crate) fn leaky_grad<const D: usize>(pre: Tensor<D>) -> Tensor<D> {
    let dtype = pre.dtype();
    pre.greater_elem(0.0)
        .float()
        .cast(dtype)
        .mul_scalar(1.0 - LEAKY_SLOPE)
        .add_scalar(LEAKY_SLOPE)
}

/// Builds models whose initial weights are a function of `seed` alone.
///
/// Burn's seed belongs to the device, not the thread, and Burn draws a parameter's initial values
/// lazily, at its first use. So `init` runs under one process-wide lock with the device freshly
/// seeded, and every parameter of what it returns is drawn before the lock is released: otherwise a
/// concurrent run, or a parallel test, could interleave its draws with this one's and change the
/// weights from one run to the next. (Several models at once: return a tuple.)
///
/// ```
/// # use burn::prelude::*;
/// use trainer::model::{CriticConfig, Preset, init_seeded};
/// let device = Device::flex();
/// let init = |d: &Device| CriticConfig::new(Preset::Toy).init(d);
/// let (a, b) = (init_seeded(&device, 7, init), init_seeded(&device, 7, init));
/// assert_eq!(a.out.weight.val().into_data(), b.out.weight.val().into_data());
/// ```
pub fn init_seeded<M: Module>(device: &Device, seed: u64, init: impl FnOnce(&Device) -> M) -> M {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    let m = init(device);
    draw_parameters_now(&m);
    m
}

/// Every float parameter of `m`, flattened in visiting order: two modules hold the same weights
/// exactly when these are equal (what the resume and checkpoint tests compare).
///
/// ```
/// # use burn::prelude::*;
/// use trainer::model::{GeneratorConfig, Preset, flat_parameters};
/// let g = GeneratorConfig::new(Preset::Toy).init(&Device::flex());
/// assert_eq!(flat_parameters(&g), flat_parameters(&g.clone()));
/// ```
pub fn flat_parameters<M: Module>(m: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl burn::module::ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let v = p.val().into_data().try_into_vec_as::<f32>();
            self.0
                .extend(v.expect("a float parameter converts to f32 values"));
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

/// Forces every lazily initialised parameter of `m` to draw its initial values now.
fn draw_parameters_now<M: Module>(m: &M) {
    struct Touch;
    impl burn::module::ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let _ = p.val();
        }
    }
    m.visit(&mut Touch);
}

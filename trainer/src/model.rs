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

use burn::module::{Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};

use crate::kernels::conv_cpu::{self, Geometry};
use crate::kernels::linear_cpu::linear;
use serde::{Deserialize, Serialize};

/// Negative slope of every LeakyReLU.
pub const LEAKY_SLOPE: f64 = 0.2;

/// A model preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Fully connected GAN on MNIST.
    Mlp,
    /// DCGAN-style convolutional GAN on MNIST.
    Dcgan,
    /// A DCGAN small enough for a microcontroller (z = 64, channels 32 and 16).
    Tiny,
    /// Small MLP for the 2-D `gaussians8` toy data.
    Toy,
}

impl Preset {
    /// The preset's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Mlp => "mlp",
            Preset::Dcgan => "dcgan",
            Preset::Tiny => "tiny",
            Preset::Toy => "toy",
        }
    }

    /// Length of the latent vector.
    pub fn z_dim(self) -> usize {
        match self {
            Preset::Mlp | Preset::Dcgan => 100,
            Preset::Tiny => 64,
            Preset::Toy => 2,
        }
    }

    /// Number of values in one sample (784 for images, 2 for the toy data).
    pub fn data_dim(self) -> usize {
        match self {
            Preset::Toy => 2,
            _ => 784,
        }
    }

    /// Whether samples are 28×28 images.
    pub fn is_image(self) -> bool {
        self != Preset::Toy
    }

    /// Channels of the generator's two feature maps (7×7 and 14×14) for the conv presets.
    fn gen_channels(self) -> Option<(usize, usize)> {
        match self {
            Preset::Dcgan => Some((256, 128)),
            Preset::Tiny => Some((32, 16)),
            _ => None,
        }
    }
}

/// Configuration of a [`Generator`].
#[derive(Config, Debug)]
pub struct GeneratorConfig {
    /// The preset.
    pub preset: Preset,
    /// Number of classes for a conditional model, 0 for none.
    #[config(default = 0)]
    pub num_classes: usize,
}

/// Configuration of a [`Critic`].
#[derive(Config, Debug)]
pub struct CriticConfig {
    /// The preset.
    pub preset: Preset,
    /// Number of classes for a conditional model (projection critic), 0 for none.
    #[config(default = 0)]
    pub num_classes: usize,
    /// Divide every weight by its spectral norm (one power iteration per critic step).
    #[config(default = false)]
    pub spectral_norm: bool,
}

/// The generator G(z, y).
#[derive(Module, Debug)]
pub struct Generator {
    /// Fully connected layers (4 for MLPs, the projection to 7×7 maps for conv presets).
    pub fc: Vec<Linear>,
    /// Batch norm after the projection (conv presets).
    pub bn0: Option<BatchNorm>,
    /// First transposed convolution, 7×7 → 14×14.
    pub up1: Option<ConvTranspose2d>,
    /// Batch norm after `up1`.
    pub bn1: Option<BatchNorm>,
    /// Second transposed convolution, 14×14 → 28×28.
    pub up2: Option<ConvTranspose2d>,
    /// Latent size.
    pub z_dim: usize,
    /// Classes (0 = unconditional).
    pub num_classes: usize,
    /// Channels of the 7×7 map (conv presets), 0 for MLPs.
    pub ch0: usize,
    /// Whether the output goes through tanh (images) or not (toy data).
    pub tanh_out: bool,
}

fn linear_cfg(d_in: usize, d_out: usize) -> LinearConfig {
    LinearConfig::new(d_in, d_out)
}

impl GeneratorConfig {
    /// Builds the generator with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Generator {
        let p = self.preset;
        let z_in = p.z_dim() + self.num_classes;
        match p.gen_channels() {
            Some((c0, c1)) => {
                let up = |cin, cout| {
                    ConvTranspose2dConfig::new([cin, cout], [4, 4])
                        .with_stride([2, 2])
                        .with_padding([1, 1])
                        .init(device)
                };
                Generator {
                    fc: vec![linear_cfg(z_in, c0 * 49).init(device)],
                    bn0: Some(BatchNormConfig::new(c0 * 49).init(device)),
                    up1: Some(up(c0, c1)),
                    bn1: Some(BatchNormConfig::new(c1).init(device)),
                    up2: Some(up(c1, 1)),
                    z_dim: p.z_dim(),
                    num_classes: self.num_classes,
                    ch0: c0,
                    tanh_out: true,
                }
            }
            None => {
                let dims: &[usize] = match p {
                    Preset::Toy => &[256, 256, 256, 2],
                    _ => &[256, 512, 1024, 784],
                };
                let mut fc = Vec::new();
                let mut d = z_in;
                for &o in dims {
                    fc.push(linear_cfg(d, o).init(device));
                    d = o;
                }
                Generator {
                    fc,
                    bn0: None,
                    up1: None,
                    bn1: None,
                    up2: None,
                    z_dim: p.z_dim(),
                    num_classes: self.num_classes,
                    ch0: 0,
                    tanh_out: p.is_image(),
                }
            }
        }
    }
}

impl Generator {
    /// A weightless generator that holds a slot while the optimiser owns the real one.
    pub(crate) fn placeholder() -> Self {
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

    /// Generates samples from latents `z` `[N, z_dim]` and, for a conditional model, one-hot labels
    /// `[N, num_classes]`. Returns `[N, 784]` images in `[-1, 1]` (or `[N, 2]` toy points).
    pub fn forward(&self, z: Tensor<2>, onehot: Option<Tensor<2>>) -> Tensor<2> {
        self.forward_with(z, onehot, None)
    }

    /// Sets the batch norms' running statistics to the exact average of the batch statistics over
    /// `batches` (latents and optional one-hot labels), as seen in training mode. Weights that did
    /// not come from the optimiser (a moving average) need statistics of their own: the running
    /// statistics of the trained weights do not match them. Nothing happens for presets without
    /// batch norm or for an empty `batches`.
    pub fn calibrate_batch_norm(&self, batches: &[(Tensor<2>, Option<Tensor<2>>)]) {
        let norms: Vec<&BatchNorm> = [&self.bn0, &self.bn1].into_iter().flatten().collect();
        if norms.is_empty() || batches.is_empty() {
            return;
        }
        let mut sums: Vec<Option<(Tensor<1>, Tensor<1>)>> = vec![None; norms.len()];
        for (z, y) in batches {
            let mut stats = Vec::with_capacity(norms.len());
            let _ = self.forward_with(z.clone(), y.clone(), Some(&mut stats));
            for (sum, (m, v)) in sums.iter_mut().zip(stats) {
                *sum = Some(match sum.take() {
                    None => (m, v),
                    Some((sm, sv)) => (sm + m, sv + v),
                });
            }
        }
        let k = batches.len() as f64;
        for (bn, (m, v)) in norms.into_iter().zip(sums.into_iter().flatten()) {
            set_running(&bn.running_mean, m.div_scalar(k).detach());
            set_running(&bn.running_var, v.div_scalar(k).detach());
        }
    }

    /// The forward pass; with `stats`, every batch norm normalises with its batch's statistics
    /// and pushes `(mean, variance)` there instead of using its own mode.
    fn forward_with(
        &self,
        z: Tensor<2>,
        onehot: Option<Tensor<2>>,
        mut stats: Option<&mut Vec<(Tensor<1>, Tensor<1>)>>,
    ) -> Tensor<2> {
        let x = match onehot {
            Some(y) => Tensor::cat(vec![z, y], 1),
            None => z,
        };
        let out = match (&self.up1, &self.up2) {
            (Some(up1), Some(up2)) => {
                let n = x.dims()[0];
                let bn0 = self.bn0.as_ref().expect("conv generator has bn0");
                let bn1 = self.bn1.as_ref().expect("conv generator has bn1");
                let h = fc_forward(&self.fc[0], x);
                let h = relu(norm(bn0, h, stats.as_deref_mut()));
                let h = h.reshape([n, self.ch0, 7, 7]);
                let h = relu(norm(bn1, up_forward(up1, h), stats));
                up_forward(up2, h).reshape([n, 784])
            }
            _ => {
                let last = self.fc.len() - 1;
                let mut h = x;
                for (i, l) in self.fc.iter().enumerate() {
                    h = fc_forward(l, h);
                    if i < last {
                        h = lrelu(h);
                    }
                }
                h
            }
        };
        if self.tanh_out { tanh(out) } else { out }
    }
}

/// Replaces a running state's value. Burn's `update` only queues the value for the current
/// thread (`value()`, which inference reads, returns the old one until a sync): sync at once.
pub fn set_running<const D: usize>(state: &RunningState<Tensor<D>>, value: Tensor<D>) {
    state.update(value);
    let _ = state.value_sync();
}

/// Batch norm in its own mode, or with the batch's statistics, recording them in `stats`.
fn norm<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
    stats: Option<&mut Vec<(Tensor<1>, Tensor<1>)>>,
) -> Tensor<D> {
    match stats {
        None => bn.forward(x),
        Some(stats) => {
            let r = burn::tensor::module::batch_norm_train(
                x,
                bn.gamma.val(),
                bn.beta.val(),
                bn.epsilon,
            );
            stats.push((r.mean, r.variance));
            r.output
        }
    }
}

/// The critic (discriminator) f(x, y): a raw score per sample.
#[derive(Module, Debug)]
pub struct Critic {
    /// Convolutions (conv presets): 1→64 and 64→128, k4 s2 p1.
    pub conv: Vec<Conv2d>,
    /// Fully connected layers (3 for MLPs, the final 6272→1 for conv presets).
    pub fc: Vec<Linear>,
    /// Class embedding for the projection term, `[num_classes, features]`.
    pub embed: Option<Param<Tensor<2>>>,
    /// Spectral-norm power-iteration vectors `u`, one per weight (conv first, then fc).
    pub sn_u: Vec<RunningState<Tensor<2>>>,
    /// Input features (784 or 2).
    pub data_dim: usize,
}

impl CriticConfig {
    /// Builds the critic with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Critic {
        let p = self.preset;
        let (conv, fc): (Vec<Conv2d>, Vec<Linear>) = if p.gen_channels().is_some() {
            let c = |cin, cout| {
                Conv2dConfig::new([cin, cout], [4, 4])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            };
            (
                vec![c(1, 64), c(64, 128)],
                vec![linear_cfg(128 * 49, 1).init(device)],
            )
        } else {
            let dims: &[usize] = match p {
                Preset::Toy => &[2, 256, 256, 256, 1],
                _ => &[784, 512, 256, 1],
            };
            let fc = dims
                .windows(2)
                .map(|w| linear_cfg(w[0], w[1]).init(device))
                .collect();
            (Vec::new(), fc)
        };
        let feat = fc.last().map(|l| l.weight.dims()[0]).unwrap_or(0);
        let embed = (self.num_classes > 0).then(|| {
            Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([self.num_classes, feat], device)
        });
        let sn_u = if self.spectral_norm {
            let outs = conv
                .iter()
                .map(|c| c.weight.dims()[0])
                .chain(fc.iter().map(|l| l.weight.dims()[1]));
            outs.map(|o| {
                let u = Tensor::<2>::random(
                    [1, o],
                    burn::tensor::Distribution::Normal(0.0, 1.0),
                    device,
                );
                RunningState::new(normalize_rows(u))
            })
            .collect()
        } else {
            Vec::new()
        };
        Critic {
            conv,
            fc,
            embed,
            sn_u,
            data_dim: p.data_dim(),
        }
    }
}

fn normalize_rows(t: Tensor<2>) -> Tensor<2> {
    let n = t.clone().square().sum_dim(1).sqrt().add_scalar(1e-12);
    t / n
}

/// The critic's weights as used in one pass (after spectral normalisation, if enabled).
#[derive(Clone, Debug)]
pub struct CriticWeights {
    conv: Vec<(Tensor<4>, Option<Tensor<1>>)>,
    fc: Vec<(Tensor<2>, Option<Tensor<1>>)>,
    embed: Option<Tensor<2>>,
}

/// What one critic pass leaves behind for the input gradient: the pre-activations of every hidden
/// layer (their LeakyReLU masks) and the per-sample direction of the output layer.
pub struct CriticTrace {
    /// Pre-activation of each hidden layer, `[N, …]`.
    pre: Vec<PreAct>,
}

enum PreAct {
    Map(Tensor<4>),
    Flat(Tensor<2>),
}

/// Every convolution of the conv presets: 4×4 kernels, stride 2, padding 1.
const K4S2P1: Geometry = Geometry {
    stride: 2,
    padding: 1,
};

/// Adds a per-channel bias `[C]` to maps `[N, C, H, W]`.
fn add_bias(x: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    match bias {
        Some(b) => {
            let c = b.dims()[0];
            x + b.reshape([1, c, 1, 1])
        }
        None => x,
    }
}

/// A transposed-convolution layer's forward pass through [`conv_cpu::conv_transpose2d`] (the
/// GEMM kernels on the CPU backend, Burn's own elsewhere).
fn up_forward(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let y = conv_cpu::conv_transpose2d(x, layer.weight.val(), K4S2P1);
    add_bias(y, layer.bias.as_ref().map(|b| b.val()))
}

/// A fully connected layer's forward pass through [`linear`] (the threaded GEMM on the CPU
/// backend, Burn's own elsewhere).
fn fc_forward(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
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
fn leaky_grad<const D: usize>(pre: Tensor<D>) -> Tensor<D> {
    let dtype = pre.dtype();
    pre.greater_elem(0.0)
        .float()
        .cast(dtype)
        .mul_scalar(1.0 - LEAKY_SLOPE)
        .add_scalar(LEAKY_SLOPE)
}

impl Critic {
    /// A weightless critic that holds a slot while the optimiser owns the real one.
    pub(crate) fn placeholder() -> Self {
        Critic {
            conv: Vec::new(),
            fc: Vec::new(),
            embed: None,
            sn_u: Vec::new(),
            data_dim: 0,
        }
    }

    /// Whether the critic has spectral normalisation.
    pub fn spectral_norm(&self) -> bool {
        !self.sn_u.is_empty()
    }

    /// The weights for one pass. With spectral norm, every weight matrix `W` (conv kernels as
    /// `[out, in·kh·kw]`) is divided by `σ = uᵀ W v`, where `u, v` come from one power-iteration
    /// step on the detached weight; when `update` is set the new `u` is stored (critic steps), so
    /// the estimate converges over training. `σ` keeps its gradient with respect to `W`.
    pub fn weights(&self, update: bool) -> CriticWeights {
        let mut k = 0;
        let mut sn = |w_mat: Tensor<2>| -> Option<Tensor<1>> {
            let state = self.sn_u.get(k)?;
            k += 1;
            let wd = w_mat.clone().detach();
            let u = state.value();
            let v = normalize_rows(u.matmul(wd.clone()));
            let u = normalize_rows(v.clone().matmul(wd.transpose()));
            let sigma = (u.clone().matmul(w_mat) * v).sum();
            if update {
                set_running(state, u);
            }
            Some(sigma)
        };
        let conv = self
            .conv
            .iter()
            .map(|c| {
                let w = c.weight.val();
                let [o, i, kh, kw] = w.dims();
                let w = match sn(w.clone().reshape([o, i * kh * kw])) {
                    Some(s) => w / s.reshape([1, 1, 1, 1]),
                    None => w,
                };
                (w, c.bias.as_ref().map(|b| b.val()))
            })
            .collect();
        let fc = self
            .fc
            .iter()
            .map(|l| {
                let w = l.weight.val();
                let w = match sn(w.clone().transpose()) {
                    Some(s) => w / s.reshape([1, 1]),
                    None => w,
                };
                (w, l.bias.as_ref().map(|b| b.val()))
            })
            .collect();
        CriticWeights {
            conv,
            fc,
            embed: self.embed.as_ref().map(|e| e.val()),
        }
    }

    /// Scores `x` `[N, data_dim]`; returns `[N]` and the trace for [`Critic::input_grad`].
    pub fn forward_traced(
        &self,
        w: &CriticWeights,
        x: Tensor<2>,
        onehot: Option<Tensor<2>>,
    ) -> (Tensor<1>, CriticTrace) {
        let n = x.dims()[0];
        let mut pre = Vec::new();
        let h = if w.conv.is_empty() {
            let mut h = x;
            for (wt, b) in &w.fc[..w.fc.len() - 1] {
                let z = linear(h, wt.clone(), b.clone());
                pre.push(PreAct::Flat(z.clone()));
                h = lrelu(z);
            }
            h
        } else {
            let mut h = x.reshape([n, 1, 28, 28]);
            for (wt, b) in &w.conv {
                let z = add_bias(conv_cpu::conv2d(h, wt.clone(), K4S2P1), b.clone());
                pre.push(PreAct::Map(z.clone()));
                h = lrelu(z);
            }
            h.reshape([n as i32, -1])
        };
        let (wl, bl) = w.fc.last().expect("critic has an output layer");
        let mut out = linear(h.clone(), wl.clone(), bl.clone());
        if let (Some(e), Some(y)) = (&w.embed, onehot) {
            out = out + (y.matmul(e.clone()) * h).sum_dim(1);
        }
        (out.reshape([n]), CriticTrace { pre })
    }

    /// Scores `x` `[N, data_dim]`, returns `[N]`.
    pub fn forward(&self, w: &CriticWeights, x: Tensor<2>, onehot: Option<Tensor<2>>) -> Tensor<1> {
        self.forward_traced(w, x, onehot).0
    }

    /// ∇ₓ f(x) for rows `start..start + len` of a traced pass, `[len, data_dim]`, written as
    /// ordinary tensor operations (transposed matmuls and transposed convolutions with the
    /// LeakyReLU masks), so that autodiff of any function of it — the gradient penalty — yields the
    /// true second-derivative terms with respect to the weights.
    pub fn input_grad(
        &self,
        w: &CriticWeights,
        trace: &CriticTrace,
        onehot: Option<Tensor<2>>,
        start: usize,
        len: usize,
    ) -> Tensor<2> {
        let (wl, _) = w.fc.last().expect("critic has an output layer");
        // d out / d h for the last hidden features h: the output weight (+ the projection row).
        let feat = wl.dims()[0];
        let mut g = wl.clone().reshape([1, feat]).expand([len, feat]);
        if let (Some(e), Some(y)) = (&w.embed, onehot) {
            g = g + y.narrow(0, start, len).matmul(e.clone());
        }
        if w.conv.is_empty() {
            for (i, p) in trace.pre.iter().enumerate().rev() {
                let PreAct::Flat(z) = p else {
                    unreachable!("mlp trace is flat")
                };
                g = g * leaky_grad(z.clone().narrow(0, start, len));
                g = linear(g, w.fc[i].0.clone().transpose(), None);
            }
            g
        } else {
            let mut gm: Option<Tensor<4>> = None;
            for (i, p) in trace.pre.iter().enumerate().rev() {
                let PreAct::Map(z) = p else {
                    unreachable!("conv trace is maps")
                };
                let z = z.clone().narrow(0, start, len);
                let [_, c, h, wd] = z.dims();
                let gz = match gm.take() {
                    None => g.clone().reshape([len, c, h, wd]),
                    Some(m) => m,
                } * leaky_grad(z);
                gm = Some(conv_cpu::conv_transpose2d(gz, w.conv[i].0.clone(), K4S2P1));
            }
            gm.expect("conv critic has layers").reshape([len, 784])
        }
    }

    /// Clamps every critic parameter to `[-c, c]` (WGAN weight clipping).
    pub fn clip(self, c: f64) -> Self {
        struct Clip(f64);
        impl burn::module::ModuleMapper for Clip {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let c = self.0;
                param.map(|t| {
                    let rg = t.is_require_grad();
                    t.without_autodiff()
                        .clamp(-c, c)
                        .autodiff()
                        .set_require_grad(rg)
                })
            }
        }
        self.map(&mut Clip(c))
    }
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
/// assert_eq!(a.fc[0].weight.val().into_data(), b.fc[0].weight.val().into_data());
/// ```
pub fn init_seeded<M: Module>(device: &Device, seed: u64, init: impl FnOnce(&Device) -> M) -> M {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    let m = init(device);
    draw_parameters_now(&m);
    m
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

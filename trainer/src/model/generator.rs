//! The generator G(z, y): an MLP, or a projection to maps and two transposed convolutions.

use super::*;
use runtime_nostd::preset::Generator as ArchGenerator;

/// Configuration of a [`Generator`].
#[derive(Config, Debug)]
pub struct GeneratorConfig {
    /// The preset.
    pub preset: Preset,
    /// Number of classes for a conditional model, 0 for none.
    #[config(default = 0)]
    pub num_classes: usize,
}

/// The generator G(z, y), one variant per architecture of the preset table
/// ([`runtime_nostd::preset::Generator`]).
// One generator per run, moved once per step: its 1.3 kB are not worth a `Box` around Burn's module.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Generator {
    /// Fully connected layers (`mlp`, `toy`).
    Mlp(MlpGenerator),
    /// A projection to maps and two transposed convolutions (`dcgan`, `tiny`).
    Conv(ConvGenerator),
}

/// Fully connected layers with LeakyReLU between them; tanh on the output for images.
#[derive(Module, Debug)]
pub struct MlpGenerator {
    /// The layers, input first.
    pub layers: Vec<Linear>,
    /// Latent size.
    pub z_dim: usize,
    /// Classes (0 = unconditional).
    pub num_classes: usize,
    /// Whether the output goes through tanh (images) or not (toy data).
    pub tanh_out: bool,
}

/// Linear → BN → ReLU → reshape to `channels`×`side`×`side` → ConvT → BN → ReLU → ConvT → tanh.
#[derive(Module, Debug)]
pub struct ConvGenerator {
    /// The projection of `(z, y)` to the first maps.
    pub project: Linear,
    /// Batch norm after the projection.
    pub bn0: BatchNorm,
    /// First transposed convolution (7×7 → 14×14 in the presets).
    pub up1: ConvTranspose2d,
    /// Batch norm after `up1`.
    pub bn1: BatchNorm,
    /// Second transposed convolution (14×14 → 28×28).
    pub up2: ConvTranspose2d,
    /// Latent size.
    pub z_dim: usize,
    /// Classes (0 = unconditional).
    pub num_classes: usize,
    /// Channels of the first maps.
    pub channels: usize,
    /// Side of the first maps.
    pub side: usize,
}

impl GeneratorConfig {
    /// Builds the generator with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Generator {
        let arch = self.preset.arch();
        let z_in = arch.z_dim + self.num_classes;
        match arch.generator {
            ArchGenerator::Conv(g) => {
                let [c0, c1] = g.channels;
                let up = |cin, cout| {
                    ConvTranspose2dConfig::new([cin, cout], [g.up.kernel; 2])
                        .with_stride([g.up.stride; 2])
                        .with_padding([g.up.padding; 2])
                        .init(device)
                };
                // Fields in this order: parameters are drawn in it (`init_seeded`).
                Generator::Conv(ConvGenerator {
                    project: linear_cfg(z_in, c0 * g.start * g.start).init(device),
                    bn0: BatchNormConfig::new(c0 * g.start * g.start).init(device),
                    up1: up(c0, c1),
                    bn1: BatchNormConfig::new(c1).init(device),
                    up2: up(c1, g.out_channels),
                    z_dim: arch.z_dim,
                    num_classes: self.num_classes,
                    channels: c0,
                    side: g.start,
                })
            }
            ArchGenerator::Mlp { widths } => {
                let mut layers = Vec::new();
                let mut d = z_in;
                for &o in widths {
                    layers.push(linear_cfg(d, o).init(device));
                    d = o;
                }
                Generator::Mlp(MlpGenerator {
                    layers,
                    z_dim: arch.z_dim,
                    num_classes: self.num_classes,
                    tanh_out: self.preset.is_image(),
                })
            }
        }
    }
}

impl Generator {
    /// A weightless generator that holds a slot while the optimiser owns the real one.
    pub(crate) fn placeholder() -> Self {
        Generator::Mlp(MlpGenerator {
            layers: Vec::new(),
            z_dim: 0,
            num_classes: 0,
            tanh_out: false,
        })
    }

    /// Latent size.
    pub fn z_dim(&self) -> usize {
        match self {
            Generator::Mlp(g) => g.z_dim,
            Generator::Conv(g) => g.z_dim,
        }
    }

    /// Classes (0 = unconditional).
    pub fn num_classes(&self) -> usize {
        match self {
            Generator::Mlp(g) => g.num_classes,
            Generator::Conv(g) => g.num_classes,
        }
    }

    /// The layer that reads `(z, y)`: the MLP's first layer or the conv generator's projection.
    pub fn input_layer(&self) -> &Linear {
        match self {
            Generator::Mlp(g) => &g.layers[0],
            Generator::Conv(g) => &g.project,
        }
    }

    /// The batch norms, input first (none for MLPs).
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        match self {
            Generator::Mlp(_) => Vec::new(),
            Generator::Conv(g) => vec![&g.bn0, &g.bn1],
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
        let norms = self.batch_norms();
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
        match self {
            Generator::Conv(g) => {
                let n = x.dims()[0];
                let h = fc_forward(&g.project, x);
                let h = relu(norm(&g.bn0, h, stats.as_deref_mut()));
                let h = h.reshape([n, g.channels, g.side, g.side]);
                let h = relu(norm(&g.bn1, up_forward(&g.up1, h), stats));
                let out = up_forward(&g.up2, h);
                let [_, c, hh, ww] = out.dims();
                tanh(out.reshape([n, c * hh * ww]))
            }
            Generator::Mlp(g) => {
                let last = g.layers.len() - 1;
                let mut h = x;
                for (i, l) in g.layers.iter().enumerate() {
                    h = fc_forward(l, h);
                    if i < last {
                        h = lrelu(h);
                    }
                }
                if g.tanh_out { tanh(h) } else { h }
            }
        }
    }
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

/// A transposed-convolution layer's forward pass through [`conv_cpu::conv_transpose2d`] (the
/// GEMM kernels on the CPU backend, Burn's own elsewhere).
fn up_forward(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let y = conv_cpu::conv_transpose2d(x, layer.weight.val(), K4S2P1);
    add_bias(y, layer.bias.as_ref().map(|b| b.val()))
}

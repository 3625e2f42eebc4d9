//! The generator G(z, y): an MLP, or a projection to 7×7 maps and two transposed convolutions.

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

impl GeneratorConfig {
    /// Builds the generator with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Generator {
        let arch = self.preset.arch();
        let z_in = arch.z_dim + self.num_classes;
        match arch.generator {
            ArchGenerator::Conv(g) => {
                let [c0, c1] = g.channels;
                let start = g.start * g.start;
                let up = |cin, cout| {
                    ConvTranspose2dConfig::new([cin, cout], [g.up.kernel; 2])
                        .with_stride([g.up.stride; 2])
                        .with_padding([g.up.padding; 2])
                        .init(device)
                };
                Generator {
                    fc: vec![linear_cfg(z_in, c0 * start).init(device)],
                    bn0: Some(BatchNormConfig::new(c0 * start).init(device)),
                    up1: Some(up(c0, c1)),
                    bn1: Some(BatchNormConfig::new(c1).init(device)),
                    up2: Some(up(c1, g.out_channels)),
                    z_dim: arch.z_dim,
                    num_classes: self.num_classes,
                    ch0: c0,
                    tanh_out: true,
                }
            }
            ArchGenerator::Mlp { widths } => {
                let mut fc = Vec::new();
                let mut d = z_in;
                for &o in widths {
                    fc.push(linear_cfg(d, o).init(device));
                    d = o;
                }
                Generator {
                    fc,
                    bn0: None,
                    up1: None,
                    bn1: None,
                    up2: None,
                    z_dim: arch.z_dim,
                    num_classes: self.num_classes,
                    ch0: 0,
                    tanh_out: self.preset.is_image(),
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

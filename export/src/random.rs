//! Random generator specs with the presets' exact shapes, for tests and for trying the runtime
//! before a trained model exists.

use crate::spec::{GeneratorSpec, Layer, Preset};
use runtime_nostd::Rng;
use runtime_nostd::preset::{ConvGenerator, ConvShape, Generator, LEAKY_SLOPE};

fn uniform(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| lo + (hi - lo) * rng.next_f32()).collect()
}

fn dense(rng: &mut Rng, i: usize, o: usize) -> Layer {
    let b = 1.0 / (i as f32).sqrt();
    Layer::Dense {
        in_features: i,
        out_features: o,
        weight: uniform(rng, i * o, -b, b),
        bias: uniform(rng, o, -b, b),
    }
}

fn conv_t(rng: &mut Rng, ci: usize, co: usize, up: ConvShape) -> Layer {
    // Each output value sees about ci · taps² inputs.
    let taps = up.kernel.div_ceil(up.stride);
    let b = 1.0 / ((ci * taps * taps) as f32).sqrt();
    let k = up.kernel;
    Layer::ConvTranspose2d {
        in_channels: ci,
        out_channels: co,
        kernel: k,
        stride: up.stride,
        padding: up.padding,
        weight: uniform(rng, ci * co * k * k, -b, b),
        bias: uniform(rng, co, -b, b),
    }
}

/// Non-trivial inference statistics: gamma ≠ 1, beta ≠ 0, mean ≠ 0, var ≠ 1.
fn batch_norm(rng: &mut Rng, n: usize) -> Layer {
    Layer::BatchNorm {
        num_features: n,
        gamma: uniform(rng, n, 0.5, 1.5),
        beta: uniform(rng, n, -0.3, 0.3),
        running_mean: uniform(rng, n, -0.3, 0.3),
        running_var: uniform(rng, n, 0.3, 2.0),
        eps: 1e-5,
    }
}

/// A spec with the exact shapes of `preset` ([`Preset::arch`]) and random weights drawn from
/// `seed` (uniform ±1/√fan-in; batch-norm statistics random and far from the identity).
/// `conditional` adds 10 classes (one-hot appended to z).
///
/// ```
/// use export::{random_spec, spec::Preset};
///
/// let spec = random_spec(Preset::Tiny, false, 1);
/// assert_eq!((spec.z_dim, spec.layers.len()), (64, 9));
/// ```
pub fn random_spec(preset: Preset, conditional: bool, seed: u64) -> GeneratorSpec {
    let mut rng = Rng::new(seed ^ 0x7467_616e);
    let num_classes = if conditional { 10 } else { 0 };
    let arch = preset.arch();
    let z_in = arch.z_dim + num_classes;
    let mut layers = match arch.generator {
        Generator::Mlp { widths } => mlp_layers(&mut rng, z_in, widths),
        Generator::Conv(g) => conv_layers(&mut rng, z_in, &g),
    };
    if preset.is_image() {
        layers.push(Layer::Tanh);
    }
    GeneratorSpec {
        preset,
        objective: "random".to_string(),
        iteration: seed,
        z_dim: arch.z_dim,
        num_classes,
        layers,
    }
}

/// Dense layers of `widths` outputs from `z_in` inputs, LeakyReLU between them.
fn mlp_layers(rng: &mut Rng, z_in: usize, widths: &[usize]) -> Vec<Layer> {
    let mut layers = Vec::new();
    let mut d = z_in;
    for (i, &o) in widths.iter().enumerate() {
        if i > 0 {
            layers.push(Layer::LeakyRelu { alpha: LEAKY_SLOPE });
        }
        layers.push(dense(rng, d, o));
        d = o;
    }
    layers
}

/// Projection to the first map (batch norm, ReLU, reshape), then the transposed convolutions
/// (batch norm and ReLU after each but the last).
fn conv_layers(rng: &mut Rng, z_in: usize, g: &ConvGenerator) -> Vec<Layer> {
    let c0 = g.channels[0];
    let mut layers = vec![
        dense(rng, z_in, c0 * g.start * g.start),
        batch_norm(rng, c0 * g.start * g.start),
        Layer::Relu,
        Layer::Reshape {
            channels: c0,
            height: g.start,
            width: g.start,
        },
    ];
    for pair in g.channels.windows(2) {
        layers.push(conv_t(rng, pair[0], pair[1], g.up));
        layers.push(batch_norm(rng, pair[1]));
        layers.push(Layer::Relu);
    }
    let last = g.channels[g.channels.len() - 1];
    layers.push(conv_t(rng, last, g.out_channels, g.up));
    layers
}

//! Random generator specs with the presets' exact shapes, for tests and for trying the runtime
//! before a trained model exists.

use crate::spec::{GeneratorSpec, Layer};
use runtime_nostd::Rng;

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

fn conv_t(rng: &mut Rng, ci: usize, co: usize) -> Layer {
    // Each output value sees about ci * (4/2)^2 inputs.
    let b = 1.0 / ((ci * 4) as f32).sqrt();
    Layer::ConvTranspose2d {
        in_channels: ci,
        out_channels: co,
        kernel: 4,
        stride: 2,
        padding: 1,
        weight: uniform(rng, ci * co * 16, -b, b),
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

/// A spec with the exact shapes of `preset` (`tiny`, `dcgan`, `mlp`) and random weights drawn
/// from `seed` (uniform ±1/√fan-in; batch-norm statistics random and far from the identity).
/// `conditional` adds 10 classes (one-hot appended to z).
///
/// # Panics
/// On an unknown preset name.
pub fn random_spec(preset: &str, conditional: bool, seed: u64) -> GeneratorSpec {
    let mut rng = Rng::new(seed ^ 0x7467_616e);
    let num_classes = if conditional { 10 } else { 0 };
    let (z_dim, layers) = match preset {
        "mlp" => {
            let z = 100;
            let a = Layer::LeakyRelu { alpha: 0.2 };
            let layers = vec![
                dense(&mut rng, z + num_classes, 256),
                a.clone(),
                dense(&mut rng, 256, 512),
                a.clone(),
                dense(&mut rng, 512, 1024),
                a,
                dense(&mut rng, 1024, 784),
                Layer::Tanh,
            ];
            (z, layers)
        }
        "dcgan" | "tiny" => {
            let (z, c1, c2) = if preset == "tiny" {
                (64, 32, 16)
            } else {
                (100, 256, 128)
            };
            let layers = vec![
                dense(&mut rng, z + num_classes, c1 * 49),
                batch_norm(&mut rng, c1 * 49),
                Layer::Relu,
                Layer::Reshape {
                    channels: c1,
                    height: 7,
                    width: 7,
                },
                conv_t(&mut rng, c1, c2),
                batch_norm(&mut rng, c2),
                Layer::Relu,
                conv_t(&mut rng, c2, 1),
                Layer::Tanh,
            ];
            (z, layers)
        }
        other => panic!("unknown preset {other:?}"),
    };
    GeneratorSpec {
        preset: preset.to_string(),
        objective: "random".to_string(),
        iteration: seed,
        z_dim,
        num_classes,
        layers,
    }
}

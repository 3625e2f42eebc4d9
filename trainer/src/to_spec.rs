//! Hands a trained [`Generator`] to `export` as a plain [`GeneratorSpec`] (no Burn types cross).

use burn::nn::BatchNorm;
use burn::nn::Linear;
use burn::nn::conv::ConvTranspose2d;
use burn::prelude::*;
use export::spec::{GeneratorSpec, Layer};

use crate::model::{Generator, LEAKY_SLOPE, Preset};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 tensor data")
}

fn dense(l: &Linear) -> Layer {
    let w = l.weight.val();
    let [d_in, d_out] = w.dims();
    Layer::Dense {
        in_features: d_in,
        out_features: d_out,
        // Burn stores [in, out]; the spec wants [out, in].
        weight: values(w.transpose()),
        bias: l
            .bias
            .as_ref()
            .map(|b| values(b.val()))
            .unwrap_or_else(|| vec![0.0; d_out]),
    }
}

fn batch_norm(bn: &BatchNorm) -> Layer {
    let gamma = values(bn.gamma.val());
    Layer::BatchNorm {
        num_features: gamma.len(),
        gamma,
        beta: values(bn.beta.val()),
        running_mean: values(bn.running_mean.value_sync()),
        running_var: values(bn.running_var.value_sync()),
        eps: bn.epsilon as f32,
    }
}

fn conv_t(c: &ConvTranspose2d) -> Layer {
    let w = c.weight.val();
    let [cin, cout, k, _] = w.dims();
    Layer::ConvTranspose2d {
        in_channels: cin,
        out_channels: cout,
        kernel: k,
        stride: c.stride[0],
        padding: c.padding[0],
        weight: values(w),
        bias: c
            .bias
            .as_ref()
            .map(|b| values(b.val()))
            .unwrap_or_else(|| vec![0.0; cout]),
    }
}

/// Describes `generator`, a `preset` generator, as a framework-free [`GeneratorSpec`].
pub fn generator_spec(
    generator: &Generator,
    preset: Preset,
    objective: &str,
    iteration: u64,
) -> GeneratorSpec {
    let mut layers = Vec::new();
    match generator {
        Generator::Conv(g) => {
            layers.push(dense(&g.project));
            layers.push(batch_norm(&g.bn0));
            layers.push(Layer::Relu);
            layers.push(Layer::Reshape {
                channels: g.channels,
                height: g.side,
                width: g.side,
            });
            layers.push(conv_t(&g.up1));
            layers.push(batch_norm(&g.bn1));
            layers.push(Layer::Relu);
            layers.push(conv_t(&g.up2));
            layers.push(Layer::Tanh);
        }
        Generator::Mlp(g) => {
            let last = g.layers.len() - 1;
            for (i, l) in g.layers.iter().enumerate() {
                layers.push(dense(l));
                if i < last {
                    layers.push(Layer::LeakyRelu {
                        alpha: LEAKY_SLOPE as f32,
                    });
                }
            }
            if g.tanh_out {
                layers.push(Layer::Tanh);
            }
        }
    }
    GeneratorSpec {
        preset,
        objective: objective.to_string(),
        iteration,
        z_dim: generator.z_dim(),
        num_classes: generator.num_classes(),
        layers,
    }
}

/// A `preset` trainer (NS-GAN, batch 16, seed 5) after 3 steps on random 28×28 data (seed 3): its
/// generator has non-trivial batch-norm running statistics, which is what export checks need (a
/// fresh model's BN is the identity, so folding mistakes would go unnoticed). Used by the export
/// tests and the burn-onnx round-trip fixtures.
pub fn warmed_up_trainer(
    preset: crate::model::Preset,
    conditional: bool,
) -> anyhow::Result<crate::train::Trainer> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
    let data = crate::data::TrainData::Images {
        images: (0..128 * 784).map(|_| rng.random()).collect(),
        labels: (0..128).map(|_| rng.random_range(0..10)).collect(),
    };
    let cfg = crate::config::TrainConfig::with_defaults(preset, crate::objective::Loss::NsGan)
        .with_batch(16)
        .with_conditional(conditional)
        .with_seed(5);
    let mut t = crate::train::Trainer::new(cfg, &Device::flex(), data)?;
    for _ in 0..3 {
        t.step()?;
    }
    Ok(t)
}

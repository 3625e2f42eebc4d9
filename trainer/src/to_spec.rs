//! Hands a trained [`Generator`] to `export` as a plain [`GeneratorSpec`] (no Burn types cross).

use burn::nn::BatchNorm;
use burn::nn::Linear;
use burn::nn::conv::ConvTranspose2d;
use burn::prelude::*;
use export::spec::{GeneratorSpec, Layer};

use crate::model::{Generator, LEAKY_SLOPE};

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

/// Describes `generator` as a framework-free [`GeneratorSpec`].
pub fn generator_spec(
    generator: &Generator,
    preset: &str,
    objective: &str,
    iteration: u64,
) -> GeneratorSpec {
    let mut layers = Vec::new();
    match (
        &generator.up1,
        &generator.up2,
        &generator.bn0,
        &generator.bn1,
    ) {
        (Some(up1), Some(up2), Some(bn0), Some(bn1)) => {
            layers.push(dense(&generator.fc[0]));
            layers.push(batch_norm(bn0));
            layers.push(Layer::Relu);
            layers.push(Layer::Reshape {
                channels: generator.ch0,
                height: 7,
                width: 7,
            });
            layers.push(conv_t(up1));
            layers.push(batch_norm(bn1));
            layers.push(Layer::Relu);
            layers.push(conv_t(up2));
        }
        _ => {
            let last = generator.fc.len() - 1;
            for (i, l) in generator.fc.iter().enumerate() {
                layers.push(dense(l));
                if i < last {
                    layers.push(Layer::LeakyRelu {
                        alpha: LEAKY_SLOPE as f32,
                    });
                }
            }
        }
    }
    if generator.tanh_out {
        layers.push(Layer::Tanh);
    }
    GeneratorSpec {
        preset: preset.to_string(),
        objective: objective.to_string(),
        iteration,
        z_dim: generator.z_dim,
        num_classes: generator.num_classes,
        layers,
    }
}

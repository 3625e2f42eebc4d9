//! A trained generator as plain data: the hand-over point between the trainer (Burn) and every
//! exporter. Nothing here depends on a training framework.
//!
//! The trainer builds a [`GeneratorSpec`] from its Burn module; `export` turns it into ONNX and
//! into the runtime's blob. Tensors are row-major `f32` vectors with the layouts documented on
//! each [`Layer`] variant.

use serde::{Deserialize, Serialize};

pub use runtime_nostd::preset::Preset;

/// A feed-forward generator: `image = layers(concat(z, one_hot(label)))`.
///
/// The input of the first layer is the latent `z` (length [`z_dim`](Self::z_dim)), followed, for a
/// conditional model, by a one-hot encoding of the class label (length
/// [`num_classes`](Self::num_classes)). The output of the last layer is the image, `[1, 28, 28]`
/// (or 784 features for an MLP), in `[-1, 1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorSpec {
    /// The preset (serialized as its name: `tiny`, `dcgan`, `mlp`, `toy`).
    #[serde(with = "preset_name")]
    pub preset: Preset,
    /// Training objective (`wgan-gp`, `ns-gan`, ...), recorded as metadata.
    pub objective: String,
    /// Generator iteration the weights come from, recorded as metadata.
    pub iteration: u64,
    /// Length of the latent vector `z`.
    pub z_dim: usize,
    /// Number of classes for a conditional model (one-hot appended to `z`); 0 when unconditional.
    pub num_classes: usize,
    /// The layers, applied in order.
    pub layers: Vec<Layer>,
}

/// One layer of a [`GeneratorSpec`]. Activations are layers of their own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Layer {
    /// `y = W x + b` on a flat feature vector.
    Dense {
        /// Input features.
        in_features: usize,
        /// Output features.
        out_features: usize,
        /// `[out_features, in_features]`, row-major (each output's weights are contiguous).
        weight: Vec<f32>,
        /// `[out_features]`.
        bias: Vec<f32>,
    },
    /// Inference-mode batch normalisation over dimension 1 (features of a flat vector, or channels of
    /// a `[C, H, W]` map): `y = gamma (x - mean) / sqrt(var + eps) + beta`.
    BatchNorm {
        /// Number of features or channels.
        num_features: usize,
        /// Scale, `[num_features]`.
        gamma: Vec<f32>,
        /// Shift, `[num_features]`.
        beta: Vec<f32>,
        /// Running mean, `[num_features]`.
        running_mean: Vec<f32>,
        /// Running variance, `[num_features]`.
        running_var: Vec<f32>,
        /// Added to the variance.
        eps: f32,
    },
    /// Reinterpret a flat vector of `channels * height * width` features as a `[C, H, W]` map.
    Reshape {
        /// Channels.
        channels: usize,
        /// Height.
        height: usize,
        /// Width.
        width: usize,
    },
    /// 2-D transposed convolution (PyTorch / ONNX `ConvTranspose` semantics, square kernel, no
    /// groups, no dilation, no output padding).
    ConvTranspose2d {
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Kernel size (square).
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding on every side.
        padding: usize,
        /// `[in_channels, out_channels, kernel, kernel]`, row-major (ONNX layout).
        weight: Vec<f32>,
        /// `[out_channels]`.
        bias: Vec<f32>,
    },
    /// `max(x, 0)`.
    Relu,
    /// `x` for `x > 0`, else `alpha * x`.
    LeakyRelu {
        /// Negative slope.
        alpha: f32,
    },
    /// `tanh(x)`.
    Tanh,
}

/// Serde for a [`Preset`] as its [name](Preset::name) (`"tiny"`, ...), the representation of
/// every file that records one.
pub mod preset_name {
    use super::Preset;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Writes the preset's name.
    pub fn serialize<S: Serializer>(preset: &Preset, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(preset.name())
    }

    /// Reads a preset from its name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Preset, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|_| D::Error::unknown_variant(&name, &["mlp", "dcgan", "tiny", "toy"]))
    }
}

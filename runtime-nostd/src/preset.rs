//! The presets' architectures, defined once: latent size, layer widths and channels, the 7×7
//! start of the convolutional generators, kernels and strides — for the generator that the
//! runtime runs and for the critic it is trained against. The trainer builds its networks from
//! this table, the exporter's random specs follow it, and the scratch sizes below are derived
//! from it at compile time.
//!
//! ```
//! use runtime_nostd::preset::{Generator, Preset};
//!
//! let tiny = Preset::Tiny.arch();
//! assert_eq!(tiny.z_dim, 64);
//! let Generator::Conv(g) = tiny.generator else { unreachable!() };
//! assert_eq!((g.start, g.channels), (7, [32, 16]));
//! assert_eq!(g.side_after(2), 28);
//! assert_eq!("tiny".parse::<Preset>(), Ok(Preset::Tiny));
//! assert_eq!(Preset::Tiny.scratch_bytes(), runtime_nostd::TINY_SCRATCH);
//! ```

use crate::format::{IMAGE_PIXELS, IMAGE_SIDE, MAX_LAYERS};
use crate::scratch::scratch_bytes;

/// Negative slope of every LeakyReLU of the presets (MLP generators, every critic).
pub const LEAKY_SLOPE: f32 = 0.2;

/// A model preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum Preset {
    /// Fully connected GAN on MNIST.
    Mlp,
    /// DCGAN-style convolutional GAN on MNIST.
    Dcgan,
    /// A DCGAN small enough for a microcontroller (z = 64, channels 32 and 16).
    Tiny,
    /// Small MLP for the 2-D `gaussians8` toy data (not an image: the runtime cannot run it).
    Toy,
}

/// A transposed (generator) or strided (critic) convolution: square kernel, same stride and
/// padding in both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on every side.
    pub padding: usize,
}

impl ConvShape {
    /// Output side of the transposed convolution on an input of side `side`:
    /// `(side - 1) · stride - 2 · padding + kernel`.
    pub const fn transposed_side(&self, side: usize) -> usize {
        (side - 1) * self.stride + self.kernel - 2 * self.padding
    }

    /// Output side of the (forward) convolution on an input of side `side`:
    /// `(side + 2 · padding - kernel) / stride + 1`.
    pub const fn side(&self, side: usize) -> usize {
        (side + 2 * self.padding - self.kernel) / self.stride + 1
    }
}

/// Every convolution of the conv presets: 4×4 kernels, stride 2, padding 1 (doubles or halves
/// the side).
pub const CONV_4_2_1: ConvShape = ConvShape {
    kernel: 4,
    stride: 2,
    padding: 1,
};

/// A convolutional generator:
/// `z → Linear(channels[0]·start²) → BN → ReLU → reshape [channels[0], start, start]`, then per
/// entry `c` of `channels[1..]` (and finally to one channel) `ConvT(up) → BN → ReLU` (the last
/// one without BN, with tanh instead of ReLU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGenerator {
    /// Side of the first feature map (7).
    pub start: usize,
    /// Channels of the feature maps, the first at `start × start`, each next one `up` larger.
    pub channels: [usize; 2],
    /// Channels of the image (1).
    pub out_channels: usize,
    /// Every transposed convolution.
    pub up: ConvShape,
}

impl ConvGenerator {
    /// Side of the feature map after `n` transposed convolutions (`n = channels.len()` is the
    /// image).
    pub const fn side_after(&self, n: usize) -> usize {
        let mut side = self.start;
        let mut i = 0;
        while i < n {
            side = self.up.transposed_side(side);
            i += 1;
        }
        side
    }
}

/// A preset's generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generator {
    /// Dense layers of `widths[i]` outputs each (the last is the sample), LeakyReLU
    /// ([`LEAKY_SLOPE`]) between them, tanh after the last for images.
    Mlp {
        /// Outputs of each dense layer.
        widths: &'static [usize],
    },
    /// A convolutional generator.
    Conv(ConvGenerator),
}

/// A preset's critic (its output is one raw score).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Critic {
    /// Dense layers of `widths[i]` outputs each (the last is 1), LeakyReLU between them.
    Mlp {
        /// Outputs of each dense layer.
        widths: &'static [usize],
    },
    /// `Conv(1 → channels[0], down) → LReLU → Conv(channels[0] → channels[1], down) → LReLU →
    /// Linear(channels[1] · side² → 1)`, `side` = the image side after the convolutions.
    Conv {
        /// Channels after each convolution.
        channels: [usize; 2],
        /// Every convolution.
        down: ConvShape,
    },
}

/// The architecture of a preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arch {
    /// Latent length.
    pub z_dim: usize,
    /// Values of one sample: [`IMAGE_PIXELS`] for images, 2 for the toy data.
    pub data_dim: usize,
    /// The generator.
    pub generator: Generator,
    /// The critic.
    pub critic: Critic,
}

const MLP: Arch = Arch {
    z_dim: 100,
    data_dim: IMAGE_PIXELS,
    generator: Generator::Mlp {
        widths: &[256, 512, 1024, IMAGE_PIXELS],
    },
    critic: Critic::Mlp {
        widths: &[512, 256, 1],
    },
};

const CONV_CRITIC: Critic = Critic::Conv {
    channels: [64, 128],
    down: CONV_4_2_1,
};

const DCGAN: Arch = Arch {
    z_dim: 100,
    data_dim: IMAGE_PIXELS,
    generator: Generator::Conv(ConvGenerator {
        start: 7,
        channels: [256, 128],
        out_channels: 1,
        up: CONV_4_2_1,
    }),
    critic: CONV_CRITIC,
};

const TINY: Arch = Arch {
    z_dim: 64,
    data_dim: IMAGE_PIXELS,
    generator: Generator::Conv(ConvGenerator {
        start: 7,
        channels: [32, 16],
        out_channels: 1,
        up: CONV_4_2_1,
    }),
    critic: CONV_CRITIC,
};

const TOY: Arch = Arch {
    z_dim: 2,
    data_dim: 2,
    generator: Generator::Mlp {
        widths: &[256, 256, 256, 2],
    },
    critic: Critic::Mlp {
        widths: &[256, 256, 256, 1],
    },
};

/// A name that is not a preset's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownPreset;

impl core::fmt::Display for UnknownPreset {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("unknown preset (mlp, dcgan, tiny, toy)")
    }
}

impl core::error::Error for UnknownPreset {}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 4] = [Preset::Mlp, Preset::Dcgan, Preset::Tiny, Preset::Toy];

    /// The preset's name (`"mlp"`, `"dcgan"`, `"tiny"`, `"toy"`): on the command line, in
    /// exported files and in the blob header.
    pub const fn name(self) -> &'static str {
        match self {
            Preset::Mlp => "mlp",
            Preset::Dcgan => "dcgan",
            Preset::Tiny => "tiny",
            Preset::Toy => "toy",
        }
    }

    /// The preset's architecture.
    pub const fn arch(self) -> &'static Arch {
        match self {
            Preset::Mlp => &MLP,
            Preset::Dcgan => &DCGAN,
            Preset::Tiny => &TINY,
            Preset::Toy => &TOY,
        }
    }

    /// Latent length.
    pub const fn z_dim(self) -> usize {
        self.arch().z_dim
    }

    /// Whether samples are 28×28 images (what the runtime generates).
    pub const fn is_image(self) -> bool {
        self.arch().data_dim == IMAGE_SIDE * IMAGE_SIDE
    }

    /// Elements of each fused layer's input in the runtime (the latent first; batch norms and
    /// activations are part of their layer), and the number of layers.
    pub const fn layer_inputs(self) -> ([usize; MAX_LAYERS], usize) {
        let arch = self.arch();
        let mut inputs = [0; MAX_LAYERS];
        inputs[0] = arch.z_dim;
        match arch.generator {
            Generator::Mlp { widths } => {
                let mut i = 1;
                while i < widths.len() {
                    inputs[i] = widths[i - 1];
                    i += 1;
                }
                (inputs, widths.len())
            }
            Generator::Conv(g) => {
                let mut i = 0;
                while i < g.channels.len() {
                    let side = g.side_after(i);
                    inputs[i + 1] = g.channels[i] * side * side;
                    i += 1;
                }
                (inputs, g.channels.len() + 1)
            }
        }
    }

    /// Scratch bytes the runtime needs to run this preset's generator (conditional or not: the
    /// label costs no activation memory); see [`crate::scratch_bytes`].
    pub const fn scratch_bytes(self) -> usize {
        let (inputs, n) = self.layer_inputs();
        scratch_bytes(inputs.split_at(n).0)
    }
}

impl core::fmt::Display for Preset {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name equals the preset it names (`Model::preset() == Preset::Tiny`).
impl PartialEq<Preset> for &str {
    fn eq(&self, preset: &Preset) -> bool {
        *self == preset.name()
    }
}

impl core::str::FromStr for Preset {
    type Err = UnknownPreset;

    /// The preset of a [`name`](Preset::name).
    fn from_str(name: &str) -> Result<Self, UnknownPreset> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or(UnknownPreset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Preset::ALL {
            assert_eq!(p.name().parse(), Ok(p));
        }
        assert_eq!("big".parse::<Preset>(), Err(UnknownPreset));
    }

    #[test]
    fn shapes() {
        assert_eq!(
            Preset::Tiny.layer_inputs(),
            ([64, 1568, 3136, 0, 0, 0, 0, 0], 3)
        );
        assert_eq!(
            Preset::Mlp.layer_inputs(),
            ([100, 256, 512, 1024, 0, 0, 0, 0], 4)
        );
        assert!(Preset::Dcgan.is_image() && !Preset::Toy.is_image());
        assert_eq!(CONV_4_2_1.side(28), 14);
        assert_eq!(CONV_4_2_1.side(14), 7);
    }
}

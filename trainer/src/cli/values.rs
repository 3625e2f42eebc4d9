//! The command line's spellings of the domain's choices (`--preset tiny`, `--loss ns-gan`, …):
//! clap `ValueEnum` mirrors of the domain enums, which stay free of clap. Each converts both ways
//! with an exhaustive match, so a variant added to a domain enum fails to compile here until the
//! command line learns it.

use clap::ValueEnum;

use crate::checkpoint::Weights;
use crate::data::Dataset;
use crate::device::DeviceChoice;
use crate::model::{CriticSize, Preset};
use crate::objective::{Loss, OptimizerKind};

/// Declares `$arg`, a `ValueEnum` with `$domain`'s variants (and their docs, which `--help`
/// shows), and `From` both ways. Hand-written: clap derives only on the enum it is put on.
macro_rules! mirror {
    ($(#[$meta:meta])* $arg:ident <=> $domain:ident {
        $($(#[doc = $doc:literal])* $variant:ident,)+
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
        pub enum $arg {
            $($(#[doc = $doc])* $variant,)+
        }

        impl From<$arg> for $domain {
            fn from(v: $arg) -> Self {
                match v {
                    $($arg::$variant => $domain::$variant,)+
                }
            }
        }

        impl From<$domain> for $arg {
            fn from(v: $domain) -> Self {
                match v {
                    $($domain::$variant => $arg::$variant,)+
                }
            }
        }
    };
}

mirror! {
    /// `--preset`: [`Preset`].
    PresetArg <=> Preset {
        /// Fully connected GAN on MNIST.
        Mlp,
        /// DCGAN-style convolutional GAN on MNIST.
        Dcgan,
        /// A DCGAN small enough for a microcontroller (z = 64, channels 32 and 16).
        Tiny,
        /// Small MLP for the 2-D `gaussians8` toy data.
        Toy,
    }
}

mirror! {
    /// `--critic`: [`CriticSize`].
    CriticArg <=> CriticSize {
        /// The preset's critic.
        Standard,
        /// Twice the channels (conv) or widths (MLP) of every hidden layer.
        Wide,
        /// One more hidden layer (a 3×3 stride-1 convolution for conv critics).
        Deep,
    }
}

mirror! {
    /// `--loss`: [`Loss`].
    LossArg <=> Loss {
        /// Minimax GAN (saturating generator loss).
        Gan,
        /// Non-saturating GAN.
        NsGan,
        /// Hinge loss (the usual partner of spectral norm).
        Hinge,
        /// WGAN with weight clipping.
        Wgan,
        /// WGAN with the two-sided gradient penalty `(‖∇f‖ − 1)²`.
        WganGp,
        /// WGAN with Su's one-sided, linear gradient penalty `max(‖∇f‖, 1)`.
        WganLp,
        /// WGAN with the one-sided squared hinge `max(0, ‖∇f‖ − 1)²` (Petzka et al.).
        WganLpSquared,
        /// WGAN with the finite-difference Lipschitz penalty `(q − 1)²`.
        WganFd,
        /// WGAN with Su's one-sided finite-difference penalty `max(q, 1)`.
        WganFdOneSided,
    }
}

mirror! {
    /// `--optimizer`: [`OptimizerKind`].
    OptimizerArg <=> OptimizerKind {
        /// Adam.
        Adam,
        /// RMSProp (no momentum).
        Rmsprop,
    }
}

mirror! {
    /// `--dataset`: [`Dataset`].
    DatasetArg <=> Dataset {
        /// MNIST handwritten digits.
        Mnist,
        /// A 2-D ring of 8 Gaussians (toy data for fast tests and mode-collapse demos).
        Gaussians8,
    }
}

mirror! {
    /// `--device`: [`DeviceChoice`].
    DeviceArg <=> DeviceChoice {
        /// wgpu when a hardware GPU adapter exists, else the CPU backend.
        Auto,
        /// Burn's pure-Rust CPU backend (flex: SIMD + rayon).
        Cpu,
        /// burn-wgpu on whatever adapter wgpu picks (a software Vulkan driver included).
        Wgpu,
    }
}

mirror! {
    /// `--weights`: [`Weights`].
    WeightsArg <=> Weights {
        /// The moving average of the weights when the run keeps one (`--ema`), with batch-norm
        /// statistics measured for it; else the trained weights.
        Averaged,
        /// The weights the optimiser produced last, with their running statistics.
        Trained,
    }
}

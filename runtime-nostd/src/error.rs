//! Typed errors of the parser and the forward pass.

use core::fmt;

/// Which tensor of a layer an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorName {
    /// The int8 weights.
    Weight,
    /// The int32 biases / class table.
    Bias,
    /// The requantization exponents.
    Requant,
}

impl fmt::Display for TensorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Weight => "weight",
            Self::Bias => "bias",
            Self::Requant => "requant",
        })
    }
}

/// Why a blob was rejected by [`crate::Model::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobError {
    /// The slice is shorter than the header or than `total_len`.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        actual: usize,
    },
    /// The first four bytes are not [`crate::format::MAGIC`].
    BadMagic([u8; 4]),
    /// A format version this runtime does not read.
    UnsupportedVersion(u16),
    /// `header_len` is not [`crate::format::HEADER_LEN`].
    BadHeaderLength(u16),
    /// `total_len` cannot hold the header and the layer table.
    BadTotalLength(u32),
    /// The CRC-32 does not match the contents.
    CrcMismatch {
        /// CRC stored in the header.
        stored: u32,
        /// CRC computed over the blob.
        computed: u32,
    },
    /// A reserved byte or the flags are not zero.
    ReservedNotZero,
    /// `layer_table_offset` is not `header_len`.
    BadLayerTableOffset(u32),
    /// `z_dim` is 0 or `num_classes` above 256.
    BadModelDims {
        /// Latent length.
        z_dim: u16,
        /// Number of classes.
        num_classes: u16,
    },
    /// No layers, or more than [`crate::format::MAX_LAYERS`].
    BadLayerCount(u16),
    /// Unknown layer kind code.
    UnknownLayerKind {
        /// Layer index.
        layer: usize,
        /// The code found.
        code: u8,
    },
    /// Unknown activation code, or tanh anywhere but the last layer, or no tanh on the last.
    BadActivation {
        /// Layer index.
        layer: usize,
        /// The code found.
        code: u8,
    },
    /// A shape or hyper-parameter is inconsistent (zero dimension, output size that does not
    /// follow from the input, input that is not the previous layer's output, last layer not
    /// `[1, 28, 28]`, ...).
    BadShape {
        /// Layer index.
        layer: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// `in_exp` differs from the previous layer's `out_exp`, or an exponent is out of range.
    BadExponent {
        /// Layer index.
        layer: usize,
    },
    /// A LeakyReLU slope that is not finite (or a non-zero slope on another activation).
    BadAlpha {
        /// Layer index.
        layer: usize,
    },
    /// A tensor lies (partly) outside the blob or inside the header / layer table.
    TensorOutOfBounds {
        /// Layer index.
        layer: usize,
        /// Which tensor.
        tensor: TensorName,
    },
    /// A tensor offset is not a multiple of [`crate::format::TENSOR_ALIGN`].
    Misaligned {
        /// Layer index.
        layer: usize,
        /// Which tensor.
        tensor: TensorName,
    },
    /// A tensor's length does not match the layer's shape.
    TensorSize {
        /// Layer index.
        layer: usize,
        /// Which tensor.
        tensor: TensorName,
        /// Bytes expected from the shape.
        expected: u64,
        /// Bytes recorded.
        actual: u32,
    },
    /// An accumulator could reach 2^24, so it would not be exact in f32 (see the format docs).
    AccumulatorRange {
        /// Layer index.
        layer: usize,
        /// Output channel.
        channel: usize,
    },
    /// The header's `scratch_bytes` differs from what the layers need.
    ScratchMismatch {
        /// Value in the header.
        header: u32,
        /// Value derived from the layers.
        computed: usize,
    },
    /// The caller's scratch buffer is smaller than the model needs.
    ScratchTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The wide weights handed to [`crate::Model::use_wide_weights`] are not this blob's: their
    /// length differs (`word` is `None`), or word `word` is not the blob's weight word widened.
    WideWeightsMismatch {
        /// Words the blob's weights widen to.
        expected_words: usize,
        /// Words given.
        actual_words: usize,
        /// The first word that differs.
        word: Option<usize>,
    },
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { needed, actual } => {
                write!(f, "blob truncated: need {needed} bytes, have {actual}")
            }
            Self::BadMagic(m) => write!(f, "bad magic {m:02x?}: not a tinygan blob"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported blob format version {v}"),
            Self::BadHeaderLength(n) => write!(f, "bad header length {n}"),
            Self::BadTotalLength(n) => write!(f, "bad total length {n}"),
            Self::CrcMismatch { stored, computed } => write!(
                f,
                "CRC-32 mismatch: header says {stored:#010x}, contents give {computed:#010x}"
            ),
            Self::ReservedNotZero => write!(f, "reserved header bytes are not zero"),
            Self::BadLayerTableOffset(o) => write!(f, "bad layer table offset {o}"),
            Self::BadModelDims { z_dim, num_classes } => {
                write!(
                    f,
                    "bad model dimensions: z_dim {z_dim}, num_classes {num_classes}"
                )
            }
            Self::BadLayerCount(n) => write!(f, "bad layer count {n}"),
            Self::UnknownLayerKind { layer, code } => {
                write!(f, "layer {layer}: unknown layer kind {code}")
            }
            Self::BadActivation { layer, code } => {
                write!(f, "layer {layer}: activation {code} not allowed here")
            }
            Self::BadShape { layer, what } => write!(f, "layer {layer}: {what}"),
            Self::BadExponent { layer } => {
                write!(
                    f,
                    "layer {layer}: scale exponents inconsistent or out of range"
                )
            }
            Self::BadAlpha { layer } => write!(f, "layer {layer}: bad LeakyReLU slope"),
            Self::TensorOutOfBounds { layer, tensor } => {
                write!(f, "layer {layer}: {tensor} tensor out of bounds")
            }
            Self::Misaligned { layer, tensor } => {
                write!(f, "layer {layer}: {tensor} tensor misaligned")
            }
            Self::TensorSize {
                layer,
                tensor,
                expected,
                actual,
            } => write!(
                f,
                "layer {layer}: {tensor} tensor has {actual} bytes, shape needs {expected}"
            ),
            Self::AccumulatorRange { layer, channel } => write!(
                f,
                "layer {layer}, channel {channel}: accumulator could reach 2^24 (not f32-exact)"
            ),
            Self::ScratchMismatch { header, computed } => write!(
                f,
                "header scratch size {header} differs from the {computed} bytes the layers need"
            ),
            Self::ScratchTooSmall { needed, available } => {
                write!(
                    f,
                    "scratch too small: need {needed} bytes, have {available}"
                )
            }
            Self::WideWeightsMismatch {
                expected_words,
                actual_words,
                word: None,
            } => write!(
                f,
                "wide weights have {actual_words} words, this blob's weights widen to {expected_words}"
            ),
            Self::WideWeightsMismatch { word: Some(w), .. } => write!(
                f,
                "wide weights differ from this blob's weights at word {w} (built from another blob?)"
            ),
        }
    }
}

impl core::error::Error for BlobError {}

/// Why [`crate::Model::generate`] refused to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunError {
    /// The scratch buffer is smaller than [`crate::Model::scratch_bytes`].
    ScratchTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// `z` does not have [`crate::Model::z_dim`] elements.
    LatentLength {
        /// Expected length.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// A conditional model was called without a label.
    MissingLabel,
    /// An unconditional model was called with a label.
    UnexpectedLabel,
    /// The label is not below [`crate::Model::num_classes`].
    LabelOutOfRange {
        /// Label given.
        label: u8,
        /// Number of classes.
        num_classes: usize,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ScratchTooSmall { needed, available } => {
                write!(
                    f,
                    "scratch too small: need {needed} bytes, have {available}"
                )
            }
            Self::LatentLength { expected, actual } => {
                write!(f, "latent has {actual} values, model expects {expected}")
            }
            Self::MissingLabel => write!(f, "conditional model needs a label"),
            Self::UnexpectedLabel => write!(f, "unconditional model got a label"),
            Self::LabelOutOfRange { label, num_classes } => {
                write!(
                    f,
                    "label {label} out of range (model has {num_classes} classes)"
                )
            }
        }
    }
}

impl core::error::Error for RunError {}

//! `no_std`, allocation-free int8 inference of a tinygan generator, for microcontrollers.
//!
//! A trained generator is exported (crate `export`) into a flat, CRC-protected blob whose format
//! is defined in [`format`] — header, layer table, then int8 weights, int32 biases and per-channel
//! requantization exponents, all little-endian and 4-aligned. [`Model::parse`] validates every
//! field and borrows the weights in place (e.g. from flash); [`Model::generate`] turns a latent
//! vector (and, for a conditional model, a class label) into a 28×28 `u8` image using only the
//! caller's [`Scratch`] buffer.
//!
//! ```no_run
//! use runtime_nostd::{latent, Model, Scratch, TINY_SCRATCH};
//!
//! fn draw(blob: &'static [u8]) -> Result<[u8; 784], runtime_nostd::BlobError> {
//!     let model = Model::parse_for_scratch::<TINY_SCRATCH>(blob)?;
//!     let mut scratch = Scratch::<TINY_SCRATCH>::new();
//!     let mut z = [0.0f32; 64];
//!     latent(42, 0, &mut z[..model.z_dim()]);
//!     let label = (model.num_classes() > 0).then_some(7);
//!     let mut image = [0u8; 784];
//!     model
//!         .generate(&z[..model.z_dim()], label, &mut scratch, &mut image)
//!         .expect("checked at load");
//!     Ok(image)
//! }
//! ```
//!
//! # Arithmetic
//!
//! Symmetric int8 everywhere, with **power-of-two scales**: weights per output channel, activations
//! per tensor (ranges calibrated at export), biases int32 at the product scale. An output value is
//! `acc = bias + Σ x·w` in int32, `v = f32(acc) · 2^e` (exact), the activation in f32 (ReLU, or
//! LeakyReLU as one f32 multiply), then `round_half_even` and saturation to int8 — exactly ONNX's
//! `DequantizeLinear → Gemm/ConvTranspose → activation → QuantizeLinear`, and, because every
//! partial sum is an integer below 2^24 (checked at load), float evaluation of the exported QDQ
//! model gives the *same* int8 codes. The last layer evaluates tanh in f32 on the dequantized
//! pre-activation and rounds `(tanh(v) + 1) / 2 · 255` to the output pixel
//! ([`pixel_from_preactivation`]). See [`format`] for the details.
//!
//! # Resources per preset
//!
//! RAM is the [`Scratch`] (two int8 activation slots) plus the 784-byte output image, the
//! [`Model`] handle and a small stack frame; flash is the blob plus this code. Measured by
//! `runtime-nostd/check-thumb.sh` on `thumbv7m-none-eabi` (opt-level `s`, LTO, soft-float): a
//! program that parses a blob and generates one digit takes **9.6–10.5 KiB of `.text` + 1.3 KiB of
//! `.rodata`** (CRC table included) and 5 488 B of static RAM for `tiny` (scratch + image).
//! Blob sizes are those `export` writes (`cargo test --release -p export --test resources --
//! --nocapture` prints this table); a conditional model adds the class-bias table
//! (`num_classes × first-layer outputs × 4` bytes instead of one bias row).
//!
//! | preset | MAC / image | scratch (RAM) | blob (flash), unconditional / conditional | fits 64 KiB RAM + 256 KiB flash (LM3S6965) |
//! |--------|------------:|--------------:|-------------:|------|
//! | `tiny` | 551 936 | [`TINY_SCRATCH`] = 4 704 B | 116 936 B / 173 384 B | yes |
//! | `mlp`  | 1 483 776 | [`MLP_SCRATCH`] = 1 536 B | 1 496 912 B / 1 506 128 B | RAM yes, flash no |
//! | `dcgan`| 27 345 920 | [`DCGAN_SCRATCH`] = 37 632 B | 1 844 312 B / 2 295 896 B | RAM yes, flash no |
//!
//! # Hot loops
//!
//! The inner loops are `zip`ped iterator dot products over contiguous int8 slices (no bounds
//! checks, auto-vectorized on the host); all indexing outside them is justified by the load-time
//! validation. Weights are read sequentially from the blob: dense rows are contiguous, and
//! transposed-convolution weights are re-ordered at export by output phase so that each output
//! value's weights form one contiguous block (see [`format`]).
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod error;
pub mod format;
mod forward;
mod kernel;
mod math;
mod model;
mod parse;
pub mod preset;
mod rng;
mod scratch;

pub use error::{BlobError, RunError, TensorName};
pub use kernel::{MAX_CHUNK, quad_dot, quad_dot_packed, quad_dot_reference};
pub use math::{
    PixelTable, exp, gray4, ln, pixel_from_preactivation, pixel_from_unit, pow2, quantize_i8,
    requantize, shift_round_i8, sin_cos_turns, sqrt, tanh,
};
pub use model::Model;
pub use parse::MAX_ACTIVATION;
pub use rng::{Rng, latent};
pub use scratch::{
    DCGAN_SCRATCH, DcganScratch, MAX_PRESET_SCRATCH, MLP_SCRATCH, MlpScratch, Scratch,
    TINY_SCRATCH, TinyScratch, scratch_bytes,
};

/// Pixels in a generated image (28 × 28).
pub const IMAGE_PIXELS: usize = format::IMAGE_PIXELS;

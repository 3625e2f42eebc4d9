//! The parsed model ([`Model`]): its header facts, and the forward pass that runs its layers
//! through the scratch slots.

use crate::error::{BlobError, RunError};
use crate::format::{Activation, IMAGE_PIXELS, LayerKind, MAX_LAYERS, widen_quad_word};
use crate::forward::{Layer, run_layer};
use crate::math::{pixel_from_preactivation, pow2, quantize_i8, requantize, shift_round_relu};
use crate::parse;
use crate::scratch::Scratch;

/// A generator parsed from a blob. Borrowing the blob (e.g. in flash); weights are read in place.
#[derive(Clone, Debug)]
pub struct Model<'a> {
    z_dim: usize,
    num_classes: usize,
    input_exp: i8,
    scratch_bytes: usize,
    slots: [usize; 2],
    iteration: u64,
    preset: [u8; 8],
    blob_len: usize,
    layers: heapless::Vec<Layer<'a>, MAX_LAYERS>,
    /// The last layer's exponent when it is one for the whole image (pixels from a table).
    pixels: Option<i8>,
    /// Bit `i`: layer `i` is a ReLU layer whose exponents are all in `-30..=-1` (outputs by
    /// [`shift_round_relu`], no branch per output).
    relu_shift: u8,
}

impl<'a> Model<'a> {
    /// Parses and validates a blob (see [`crate::format`]): magic, version, lengths, CRC-32,
    /// every layer record, tensor bounds, alignment and sizes, the shape and exponent chain, and
    /// the accumulator bound. Never panics and never reads outside `bytes`; bytes after
    /// `total_len` are ignored.
    ///
    /// Not inlined, so that its temporaries (copies of the layer table) never stay in a caller's
    /// stack frame.
    #[inline(never)]
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BlobError> {
        let (h, blob) = parse::header(bytes)?;
        let mut layers = heapless::Vec::new();
        let slots = parse::layers(&h, blob, &mut layers)?;
        let last = &layers[layers.len() - 1];
        // One exponent for the whole image (a transposed conv's single channel): a threshold
        // table; a dense last layer with an exponent per pixel evaluates the f32 formula.
        let e = last.requant[0];
        let pixels = last.requant.iter().all(|&x| x == e).then_some(e);
        let mut relu_shift = 0;
        for (i, l) in layers.iter().enumerate() {
            let shifts = l.requant.iter().all(|&e| (-30..=-1).contains(&e));
            if l.act == Activation::Relu && shifts {
                relu_shift |= 1 << i;
            }
        }
        Ok(Self {
            pixels,
            relu_shift,
            z_dim: h.z_dim as usize,
            num_classes: h.num_classes as usize,
            input_exp: h.input_exp,
            scratch_bytes: slots[0] + slots[1],
            slots,
            iteration: h.iteration,
            preset: h.preset,
            blob_len: blob.len(),
            layers,
        })
    }

    /// [`parse`](Self::parse), then checks that a `Scratch<N>` is big enough
    /// ([`BlobError::ScratchTooSmall`] otherwise), so a firmware can reject a blob at load time.
    pub fn parse_for_scratch<const N: usize>(bytes: &'a [u8]) -> Result<Self, BlobError> {
        let m = Self::parse(bytes)?;
        if m.scratch_bytes > N {
            return Err(BlobError::ScratchTooSmall {
                needed: m.scratch_bytes,
                available: N,
            });
        }
        Ok(m)
    }

    /// Builds what [`generate`](Self::generate) would otherwise build on its first call with this
    /// `scratch` (the last layer's pixel table: about 3 000 evaluations of `exp`), so that every
    /// call to `generate` costs the same.
    pub fn prepare<const N: usize>(&self, scratch: &mut Scratch<N>) {
        let _ = scratch.parts_mut(self.pixels);
    }

    /// Words of the wide weights this model's weights widen to (twice their bytes, over 4).
    ///
    /// ```
    /// let blob = std::fs::read("../firmware/assets/tiny.tgb").unwrap();
    /// let model = runtime_nostd::Model::parse(&blob).unwrap();
    /// // `tiny`: 108 800 bytes of int8 weights.
    /// assert_eq!(model.wide_words(), 54_400);
    /// # #[cfg(feature = "alloc")]
    /// assert_eq!(model.wide_words(), model.wide_weights().len());
    /// ```
    pub fn wide_words(&self) -> usize {
        self.layers.iter().map(|l| l.weight.len() / 2).sum()
    }

    /// The model's weights in the wide layout, every layer's after the previous one's (see
    /// [`widen_quad_word`]): what [`use_wide_weights`](Self::use_wide_weights) takes, built on
    /// the host (a firmware's build script) so that the target only checks them.
    ///
    /// ```
    /// use runtime_nostd::format::widen_quad_word;
    ///
    /// let blob = std::fs::read("../firmware/assets/tiny.tgb").unwrap();
    /// let model = runtime_nostd::Model::parse(&blob).unwrap();
    /// let wide = model.wide_weights();
    /// // The first layer's weights start right after the layer table (3 layers of 48 bytes).
    /// let at = 64 + 3 * 48;
    /// let first = u32::from_le_bytes(blob[at..at + 4].try_into().unwrap());
    /// assert_eq!(wide[..2], widen_quad_word(first));
    /// ```
    #[cfg(feature = "alloc")]
    pub fn wide_weights(&self) -> alloc::vec::Vec<u32> {
        self.widened_words().flatten().collect()
    }

    /// Every quad-layout word of every layer's weights, widened ([`widen_quad_word`]), in order.
    fn widened_words(&self) -> impl Iterator<Item = [u32; 2]> + '_ {
        let words = self.layers.iter().flat_map(|l| l.weight.chunks_exact(4));
        words.map(|w| widen_quad_word(u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
    }

    /// Makes this model multiply with `wide` (its [`wide_weights`](Self::wide_weights), e.g. in
    /// flash) instead of unpacking the int8 weights: on a Cortex-M4 with the DSP extension (crate
    /// feature `dsp`) 11 instead of 18 instructions per 16 MACs, for twice the weights' flash; on
    /// x86-64 `PMADDWD`/`VPMADDWD`/`VPDPWSSD` straight on the words (SSE2, AVX2 or AVX-512 VNNI,
    /// chosen at run time; layers over 512 KB of wide weights keep reading the int8 ones with
    /// AVX2, half the bytes); elsewhere a plain kernel. Outputs are identical either way.
    ///
    /// Checks every word against the blob first (one pass over the weights) and refuses wide
    /// weights built from another blob with [`BlobError::WideWeightsMismatch`], leaving the model
    /// as it was. In place (not a builder) so that a microcontroller holds one `Model` on its stack.
    ///
    /// ```
    /// # #[cfg(feature = "alloc")] {
    /// use runtime_nostd::{Model, TinyScratch};
    ///
    /// let blob = std::fs::read("../firmware/assets/tiny.tgb").unwrap();
    /// let model = Model::parse(&blob).unwrap();
    /// let wide = model.wide_weights();
    /// let mut fast = model.clone();
    /// fast.use_wide_weights(&wide).unwrap();
    /// let (mut scratch, mut a, mut b) = (TinyScratch::new(), [0u8; 784], [0u8; 784]);
    /// let z = [0.5f32; 64];
    /// let label = (model.num_classes() > 0).then_some(3); // the shipped blob is conditional
    /// model.generate(&z, label, &mut scratch, &mut a).unwrap();
    /// fast.generate(&z, label, &mut scratch, &mut b).unwrap();
    /// assert_eq!(a, b);
    /// assert!(fast.use_wide_weights(&wide[1..]).is_err());
    /// # }
    /// ```
    pub fn use_wide_weights(&mut self, wide: &'a [u32]) -> Result<(), BlobError> {
        let (expected_words, actual_words) = (self.wide_words(), wide.len());
        let mismatch = |word| BlobError::WideWeightsMismatch {
            expected_words,
            actual_words,
            word,
        };
        if actual_words != expected_words {
            return Err(mismatch(None));
        }
        for (k, (want, pair)) in self.widened_words().zip(wide.chunks_exact(2)).enumerate() {
            if want != [pair[0], pair[1]] {
                return Err(mismatch(Some(2 * k)));
            }
        }
        let mut rest = wide;
        for l in &mut self.layers {
            (l.wide, rest) = rest.split_at(l.weight.len() / 2);
        }
        Ok(())
    }

    /// Length of the latent `z`.
    pub fn z_dim(&self) -> usize {
        self.z_dim
    }

    /// Number of classes of a conditional model; 0 when unconditional.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Scratch bytes [`generate`](Self::generate) needs (`Scratch<N>` with `N >=` this).
    pub fn scratch_bytes(&self) -> usize {
        self.scratch_bytes
    }

    /// Number of fused layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Length of the blob in bytes (its `total_len`).
    pub fn blob_len(&self) -> usize {
        self.blob_len
    }

    /// Generator iteration recorded in the blob.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// Preset name recorded in the blob (`"tiny"`, `"dcgan"`, `"mlp"`, ...).
    pub fn preset(&self) -> &str {
        let end = self.preset.iter().position(|&b| b == 0).unwrap_or(8);
        core::str::from_utf8(&self.preset[..end]).unwrap_or("?")
    }

    /// Multiply-accumulates per generated image.
    pub fn macs(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| match l.kind {
                LayerKind::Dense => (l.in_len() * l.out_len()) as u64,
                LayerKind::ConvTranspose => {
                    // Every output value reads up to taps² input pixels of in_c channels.
                    (l.out_len() * l.taps * l.taps * l.in_shape[0]) as u64
                }
            })
            .sum()
    }

    /// Generates one 28×28 image (row-major, 0 = background, 255 = ink) from the latent `z`
    /// (length [`z_dim`](Self::z_dim)) and, for a conditional model, a class `label`.
    ///
    /// The latent is quantized to int8, every layer runs in int8 × int8 → int32 with power-of-two
    /// requantization (see [`crate::format`]), and the last layer's tanh is evaluated in f32.
    pub fn generate<const N: usize>(
        &self,
        z: &[f32],
        label: Option<u8>,
        scratch: &mut Scratch<N>,
        out: &mut [u8; IMAGE_PIXELS],
    ) -> Result<(), RunError> {
        if N < self.scratch_bytes {
            return Err(RunError::ScratchTooSmall {
                needed: self.scratch_bytes,
                available: N,
            });
        }
        if z.len() != self.z_dim {
            return Err(RunError::LatentLength {
                expected: self.z_dim,
                actual: z.len(),
            });
        }
        let class = match (label, self.num_classes) {
            (None, 0) => 0,
            (Some(_), 0) => return Err(RunError::UnexpectedLabel),
            (None, _) => return Err(RunError::MissingLabel),
            (Some(l), n) if (l as usize) < n => l as usize,
            (Some(l), n) => {
                return Err(RunError::LabelOutOfRange {
                    label: l,
                    num_classes: n,
                });
            }
        };
        let (bytes, table) = scratch.parts_mut(self.pixels);
        let (slot0, rest) = bytes.split_at_mut(self.slots[0]);
        let slot1 = &mut rest[..self.slots[1]];
        let scale = pow2(self.input_exp as i32);
        for (q, &v) in slot0.iter_mut().zip(z) {
            *q = quantize_i8(v * scale);
        }
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            let (src, dst): (&[i8], &mut [i8]) = if i % 2 == 0 {
                (&slot0[..], &mut slot1[..])
            } else {
                (&slot1[..], &mut slot0[..])
            };
            let src = &src[..l.in_len()];
            let bias = if i == 0 && self.num_classes > 0 {
                let len = 4 * l.out_len();
                &l.bias[class * len..(class + 1) * len]
            } else {
                l.bias
            };
            if i + 1 == n {
                match table {
                    Some(table) => run_layer(l, src, bias, &mut out[..], |acc, _| table.pixel(acc)),
                    None => run_layer(l, src, bias, &mut out[..], |acc, e| {
                        pixel_from_preactivation(acc as f32 * pow2(e))
                    }),
                }
            } else if self.relu_shift & (1 << i) != 0 {
                run_layer(l, src, bias, &mut dst[..l.out_len()], |acc, e| {
                    shift_round_relu(acc, -e)
                });
            } else {
                let (act, alpha) = (l.act, l.alpha);
                run_layer(l, src, bias, &mut dst[..l.out_len()], |acc, e| {
                    requantize(acc, e, act, alpha)
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn wide_weights_from_another_blob_are_refused_at_the_first_wrong_word() {
        let blob = std::fs::read("../firmware/assets/tiny.tgb").unwrap();
        let model = Model::parse(&blob).unwrap();
        // `wide_weights` without the `alloc` feature.
        let mut wide: Vec<u32> = model.widened_words().flatten().collect();
        assert!(model.clone().use_wide_weights(&wide).is_ok());
        let n = wide.len();
        wide[n / 2] ^= 1 << 16;
        let mut model = model;
        assert_eq!(
            model.use_wide_weights(&wide).unwrap_err(),
            BlobError::WideWeightsMismatch {
                expected_words: n,
                actual_words: n,
                word: Some(n / 2),
            }
        );
        assert!(model.layers.iter().all(|l| l.wide.is_empty()), "unchanged");
        let err = model.use_wide_weights(&wide[..n - 1]).unwrap_err();
        assert_eq!(
            std::format!("{err}"),
            std::format!(
                "wide weights have {} words, this blob's weights widen to {n}",
                n - 1
            )
        );
    }
}

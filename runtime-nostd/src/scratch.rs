//! Scratch memory for the forward pass, sized at compile time.

use crate::math::PixelTable;
use crate::preset::Preset;

/// Working memory for [`crate::Model::generate`]: two int8 activation slots (`N` bytes) and the
/// last layer's pixel table ([`crate::PixelTable`], 1 KB: 255 thresholds and a sentinel, built on
/// first use or by [`crate::Model::prepare`]). Put it in a `static` (or on the stack if it is small); nothing else
/// is allocated.
#[derive(Clone, Debug)]
pub struct Scratch<const N: usize> {
    buf: [i8; N],
    pixels: PixelTable,
    /// The exponent `pixels` was built for.
    pixels_exp: Option<i8>,
}

impl<const N: usize> Scratch<N> {
    /// A zeroed scratch buffer (usable in a `static` initializer).
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            pixels: PixelTable::EMPTY,
            pixels_exp: None,
        }
    }

    /// Its size in bytes, `N`.
    pub const fn len(&self) -> usize {
        N
    }

    /// Whether `N == 0`.
    pub const fn is_empty(&self) -> bool {
        N == 0
    }

    /// The activation slots and the pixel table for exponent `e` (built here if needed).
    pub(crate) fn parts_mut(&mut self, e: Option<i8>) -> (&mut [i8], Option<&PixelTable>) {
        if let Some(e) = e
            && self.pixels_exp != Some(e)
        {
            self.pixels.rebuild(e as i32);
            self.pixels_exp = Some(e);
        }
        (&mut self.buf, e.map(|_| &self.pixels))
    }
}

impl<const N: usize> Default for Scratch<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Bytes of scratch for a chain of layers whose inputs have `inputs[i]` int8 elements: layer `i`
/// reads slot `i % 2` and writes slot `(i + 1) % 2` (the last layer writes the image directly), so
/// the scratch is the largest even-indexed input plus the largest odd-indexed one.
pub const fn scratch_bytes(inputs: &[usize]) -> usize {
    let s = slot_sizes(inputs);
    s[0] + s[1]
}

pub(crate) const fn slot_sizes(inputs: &[usize]) -> [usize; 2] {
    let mut s = [0usize; 2];
    let mut i = 0;
    while i < inputs.len() {
        if inputs[i] > s[i % 2] {
            s[i % 2] = inputs[i];
        }
        i += 1;
    }
    s
}

/// Scratch bytes of the `tiny` preset (z = 64; activations 64 → 1568 → 3136 → image).
pub const TINY_SCRATCH: usize = Preset::Tiny.scratch_bytes();
/// Scratch bytes of the `dcgan` preset (z = 100; activations 100 → 12544 → 25088 → image).
pub const DCGAN_SCRATCH: usize = Preset::Dcgan.scratch_bytes();
/// Scratch bytes of the `mlp` preset (z = 100; activations 100 → 256 → 512 → 1024 → image).
pub const MLP_SCRATCH: usize = Preset::Mlp.scratch_bytes();
/// The largest of the image presets' scratch sizes: a `Scratch<MAX_PRESET_SCRATCH>` runs any
/// preset the runtime can run.
pub const MAX_PRESET_SCRATCH: usize = max_image_scratch();

const fn max_image_scratch() -> usize {
    let mut max = 0;
    let mut i = 0;
    while i < Preset::ALL.len() {
        let p = Preset::ALL[i];
        if p.is_image() && p.scratch_bytes() > max {
            max = p.scratch_bytes();
        }
        i += 1;
    }
    max
}

/// Scratch for the `tiny` preset (conditional or not: the label costs no activation memory).
pub type TinyScratch = Scratch<TINY_SCRATCH>;
/// Scratch for the `dcgan` preset.
pub type DcganScratch = Scratch<DCGAN_SCRATCH>;
/// Scratch for the `mlp` preset.
pub type MlpScratch = Scratch<MLP_SCRATCH>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_scratch_sizes() {
        assert_eq!(TINY_SCRATCH, 3136 + 1568);
        assert_eq!(DCGAN_SCRATCH, 25088 + 12544);
        assert_eq!(MLP_SCRATCH, 512 + 1024);
        assert_eq!(MAX_PRESET_SCRATCH, DCGAN_SCRATCH);
    }
}

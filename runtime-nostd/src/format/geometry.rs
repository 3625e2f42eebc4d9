//! The quad weight layout (see the [module docs](super)).

use super::{QUAD, QUAD_PAIR_BYTES};

/// Bytes of the *wide* layout per byte of the quad layout: every quad-layout word becomes two
/// words ([`widen_quad_word`]).
pub const WIDE_PER_QUAD: usize = 2;

/// One quad-layout word `[w(a,i0) ^ 0x80, w(b,i1), w(a,i1) ^ 0x80, w(b,i0)]` as the two words of
/// the *wide* layout: `(w(a,i0), w(a,i1))` and `(w(b,i0), w(b,i1))`, each an int16 pair (low half
/// first), no offset. A whole tensor widens word by word, so the wide form of the byte at offset
/// `n` lies at byte `2n` ([`WIDE_PER_QUAD`]): the geometry is the quad layout's, doubled. A
/// Cortex-M4 multiplies an input pair `(x0, x1)` by such a word with one `SMLAD` and needs no
/// unpacking (see `crate::Model::use_wide_weights`).
///
/// ```
/// use runtime_nostd::format::widen_quad_word;
///
/// // a = (3, -4), b = (-128, 127) for inputs (i0, i1).
/// let word = u32::from_le_bytes([3u8 ^ 0x80, 127, (-4i8 as u8) ^ 0x80, 0x80]);
/// let [a, b] = widen_quad_word(word);
/// assert_eq!((a as i16, (a >> 16) as i16), (3, -4));
/// assert_eq!((b as i16, (b >> 16) as i16), (-128, 127));
/// ```
pub const fn widen_quad_word(word: u32) -> [u32; 2] {
    let [a0, b1, a1, b0] = word.to_le_bytes();
    [int16_pair(a0 ^ 0x80, a1 ^ 0x80), int16_pair(b0, b1)]
}

/// Two int8 bytes as one word of two sign-extended int16 halves (`lo` in bits 0..16).
const fn int16_pair(lo: u8, hi: u8) -> u32 {
    (lo as i8 as i16 as u16 as u32) | ((hi as i8 as i16 as u16 as u32) << 16)
}
/// Shape of a layer's weights in the quad layout: `values` outputs per input window, `taps`
/// segments of `cin` inputs per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightGeometry {
    /// Output values per window (`V`).
    pub values: usize,
    /// Segments per window.
    pub taps: usize,
    /// Inputs per segment.
    pub cin: usize,
}

impl WeightGeometry {
    /// The geometry of a dense layer with `inputs` inputs and `outputs` outputs.
    pub const fn dense(inputs: usize, outputs: usize) -> Self {
        Self {
            values: outputs,
            taps: 1,
            cin: inputs,
        }
    }

    /// The geometry of a transposed convolution (`stride`, `taps = ceil(kernel / stride)`).
    pub const fn conv(cin: usize, cout: usize, stride: usize, taps: usize) -> Self {
        Self {
            values: stride * stride * cout,
            taps: taps * taps,
            cin,
        }
    }

    /// Weight groups (`ceil(values / QUAD)`).
    pub const fn groups(&self) -> usize {
        self.values.div_ceil(QUAD)
    }

    /// Input pairs per segment (`ceil(cin / 2)`).
    pub const fn pairs(&self) -> usize {
        self.cin.div_ceil(2)
    }

    /// Bytes of one group's weights.
    pub const fn group_bytes(&self) -> usize {
        self.taps * self.pairs() * QUAD_PAIR_BYTES
    }

    /// Bytes of all weights (as `u64`, so huge shapes cannot overflow).
    pub const fn len(&self) -> u64 {
        self.groups() as u64 * self.taps as u64 * self.pairs() as u64 * QUAD_PAIR_BYTES as u64
    }

    /// Whether there are no weights.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Byte offset of logical weight `w[v][tap][i]`, and whether it is stored offset by 128
    /// (`^ 0x80`).
    pub const fn position(&self, v: usize, tap: usize, i: usize) -> (usize, bool) {
        let (g, j) = (v / QUAD, v % QUAD);
        let word = ((g * self.taps + tap) * self.pairs() + i / 2) * QUAD_PAIR_BYTES + (j / 2) * 4;
        let (a, i0) = (j.is_multiple_of(2), i.is_multiple_of(2));
        let byte = match (a, i0) {
            (true, true) => 0,
            (false, false) => 1,
            (true, false) => 2,
            (false, true) => 3,
        };
        (word + byte, a)
    }

    /// Logical weight `w[v][tap][i]` read from quad-layout `bytes` (`bytes` must be
    /// [`len`](Self::len) long and the indices in range).
    pub fn get(&self, bytes: &[u8], v: usize, tap: usize, i: usize) -> i8 {
        let (at, flip) = self.position(v, tap, i);
        (bytes[at] ^ if flip { 0x80 } else { 0 }) as i8
    }

    /// Writes the quad layout of the logical weights `w(v, tap, i)` into `out` (
    /// [`len`](Self::len) bytes), padding included.
    pub fn pack(&self, out: &mut [u8], w: impl Fn(usize, usize, usize) -> i8) {
        for g in 0..self.groups() {
            for j in 0..QUAD {
                let v = g * QUAD + j;
                for tap in 0..self.taps {
                    for i in 0..2 * self.pairs() {
                        let value = if v < self.values && i < self.cin {
                            w(v, tap, i)
                        } else {
                            0
                        };
                        let (at, flip) = self.position(v, tap, i);
                        out[at] = value as u8 ^ if flip { 0x80 } else { 0 };
                    }
                }
            }
        }
    }
}

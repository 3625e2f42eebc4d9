//! The portable kernel, [`quad_dot_packed`] (every target; the one the Cortex-M0+ runs), and on
//! every target but the DSP one the window buffer's form of the portable kernels (one
//! sign-extended input per slot): `widen`, `widen_taps`, `input_pair` and `quad_dot_acc` (`kernel/dsp.rs`
//! has the DSP target's).

use super::{unpack, word};
use crate::format::{QUAD_MASK, QUAD_PAIR_BYTES};

/// [`quad_dot`](super::quad_dot) with two MACs per 64-bit multiply-accumulate: `word & QUAD_MASK`
/// is `(w(a,i0) + 128) + w(b,i0)·2^24`, so `x0 · (word & QUAD_MASK)` adds `x0·(w(a,i0) + 128)` to
/// the low 24 bits and `x0·w(b,i0)` above them.
#[inline(always)]
pub fn quad_dot_packed(x: &[i32], w: &[u8], sum_x: i32) -> [i32; 4] {
    let mut ab: i64 = 1 << 23;
    let mut cd: i64 = 1 << 23;
    for (x, w) in x.chunks_exact(2).zip(w.chunks_exact(QUAD_PAIR_BYTES)) {
        let (x0, x1) = (x[0] as i64, x[1] as i64);
        let (w0, w1) = (word(&w[..4]), word(&w[4..]));
        ab += x0 * (w0 & QUAD_MASK) as i32 as i64;
        ab += x1 * (w0.rotate_right(16) & QUAD_MASK) as i32 as i64;
        cd += x0 * (w1 & QUAD_MASK) as i32 as i64;
        cd += x1 * (w1.rotate_right(16) & QUAD_MASK) as i32 as i64;
    }
    let (a, b) = unpack(ab);
    let (c, d) = unpack(cd);
    let offset = 128 * sum_x;
    [a - offset, b, c - offset, d]
}

cfg_not_dsp! {
    /// Converts the int8 inputs `src` into `dst` in the kernel's form (its first
    /// `src.len().div_ceil(2) · PAIR_SLOTS` slots, an odd last input paired with 0) and returns
    /// `Σ src`. Four inputs per word load (`SXTB` with rotation on a Cortex-M3).
    #[inline(always)]
    pub(crate) fn widen(dst: &mut [i32], src: &[i8]) -> i32 {
        let n = src.len();
        let dst = &mut dst[..n.div_ceil(2) * 2];
        if n % 2 == 1 {
            dst[n] = 0;
        }
        let dst = &mut dst[..n];
        let mut sum = 0;
        let mut d4 = dst.chunks_exact_mut(4);
        let mut s4 = src.chunks_exact(4);
        for (d, s) in (&mut d4).zip(&mut s4) {
            let w = u32::from_le_bytes([s[0] as u8, s[1] as u8, s[2] as u8, s[3] as u8]);
            sum += widen4(d, w);
        }
        for (d, &v) in d4.into_remainder().iter_mut().zip(s4.remainder()) {
            *d = v as i32;
            sum += v as i32;
        }
        sum
    }

    /// Converts each tap's inputs `x[from..from + cin]` (`taps[k] = (tap, from)`) into the window
    /// buffer at slot `k · cinp` (see [`widen`]) and writes their sums to `sums[k]`.
    #[inline(always)]
    pub(crate) fn widen_taps(
        xs: &mut [i32],
        x: &[i8],
        taps: &[(usize, usize)],
        cin: usize,
        cinp: usize,
        sums: &mut [i32],
    ) {
        for ((k, &(_, from)), sum) in taps.iter().enumerate().zip(sums.iter_mut()) {
            *sum = widen(&mut xs[k * cinp..(k + 1) * cinp], &x[from..from + cin]);
        }
    }

    /// Four inputs (a little-endian word) as four sign-extended slots; their sum.
    #[inline(always)]
    fn widen4(d: &mut [i32], w: u32) -> i32 {
        let v = [
            w as i8 as i32,
            (w >> 8) as i8 as i32,
            (w >> 16) as i8 as i32,
            (w >> 24) as i8 as i32,
        ];
        d.copy_from_slice(&v);
        (v[0] + v[1]) + (v[2] + v[3])
    }

    /// Input pair `p` of a window buffer in this form: slots `2p` and `2p + 1`.
    #[inline(always)]
    pub(crate) fn input_pair(xs: &[i32], p: usize) -> (i32, i32) {
        (xs[2 * p], xs[2 * p + 1])
    }

    /// Adds [`quad_dot`](super::quad_dot) of inputs in the window buffer's form (one slot per
    /// input) to `acc`.
    #[inline(always)]
    pub(crate) fn quad_dot_acc(acc: &mut [i32; 4], x: &[i32], w: &[u8], sum_x: i32) {
        let r = super::quad_dot(x, w, sum_x);
        for (a, r) in acc.iter_mut().zip(r) {
            *a += r;
        }
    }
}

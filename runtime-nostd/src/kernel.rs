//! The inner loops: dot products of one input window with the four output values of one weight
//! group in the quad layout (see [`crate::format`]).
//!
//! Three implementations of the same integer function, selected at compile time by
//! [`quad_dot`], all exact (so all give identical bytes):
//! * [`quad_dot_packed`], portable Rust: two MACs per 32×32→64-bit multiply-accumulate (`SMLAL` on
//!   a Cortex-M3, `imul` on x86-64);
//! * `quad_dot_dsp` (Cortex-M4/M7 with the DSP extension only): `UXTB16`/`SXTB16` unpack a word
//!   into int16 pairs for `SMLAD`/`SMLADX`, two MACs per instruction;
//! * [`quad_dot_reference`], the plain one (unpack every weight, one MAC at a time), for tests.

use crate::format::{QUAD_MASK, QUAD_PAIR_BYTES};

/// Most inputs one call may take: keeps the low 24-bit field of the packed accumulator exact
/// (`|Σ x·(w + 128)| ≤ 256 · 128 · 255 < 2^23`).
pub const MAX_CHUNK: usize = 256;

/// The four dot products `Σ x[i] · w(v, i)` for the group's output values `v = 0..4`.
///
/// `x`: sign-extended int8 inputs, even length `≤ MAX_CHUNK`; `w`: the group's quad-layout bytes
/// for these inputs (`x.len() / 2 · 8` bytes, 4-aligned); `sum_x`: `Σ x`.
#[inline(always)]
pub fn quad_dot(x: &[i32], w: &[u8], sum_x: i32) -> [i32; 4] {
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        quad_dot_dsp(x, w, sum_x)
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
    {
        quad_dot_packed(x, w, sum_x)
    }
}

#[inline(always)]
fn word(w: &[u8]) -> u32 {
    u32::from_le_bytes([w[0], w[1], w[2], w[3]])
}

/// Splits a packed accumulator `2^23 + A + B·2^24` (with `|A| < 2^23`) into `(A, B)`.
#[inline(always)]
fn unpack(acc: i64) -> (i32, i32) {
    let low = (acc as u32 & 0x00FF_FFFF) as i32 - (1 << 23);
    (low, (acc >> 24) as i32)
}

/// [`quad_dot`] with two MACs per 64-bit multiply-accumulate: `word & QUAD_MASK` is
/// `(w(a,i0) + 128) + w(b,i0)·2^24`, so `x0 · (word & QUAD_MASK)` adds `x0·(w(a,i0) + 128)` to
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

/// [`quad_dot`] one weight at a time: the definition the fast kernels are tested against.
pub fn quad_dot_reference(x: &[i32], w: &[u8], _sum_x: i32) -> [i32; 4] {
    let mut acc = [0i32; 4];
    for (x, w) in x.chunks_exact(2).zip(w.chunks_exact(QUAD_PAIR_BYTES)) {
        for (pair, w) in w.chunks_exact(4).enumerate() {
            acc[2 * pair] +=
                x[0] * ((w[0] ^ 0x80) as i8 as i32) + x[1] * ((w[2] ^ 0x80) as i8 as i32);
            acc[2 * pair + 1] += x[0] * (w[3] as i8 as i32) + x[1] * (w[1] as i8 as i32);
        }
    }
    acc
}

/// [`quad_dot`] on the DSP extension (Cortex-M4/M7): per word, `UXTB16` gives the `a` weights
/// `(w(a,i0) + 128, w(a,i1) + 128)` and `SXTB16 ROR 8` the `b` weights `(w(b,i1), w(b,i0))` as
/// int16 pairs; `SMLAD`/`SMLADX` with the input pair `(x0, x1)` do two MACs each.
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
pub fn quad_dot_dsp(x: &[i32], w: &[u8], sum_x: i32) -> [i32; 4] {
    use core::arch::asm;
    let mut acc = [0i32; 4];
    for (x, w) in x.chunks_exact(2).zip(w.chunks_exact(QUAD_PAIR_BYTES)) {
        // int16 pair (x0 low, x1 high); inputs are within -128..=127.
        let xx = (x[0] as u32 & 0xFFFF) | ((x[1] as u32) << 16);
        let (w0, w1) = (word(&w[..4]), word(&w[4..]));
        // SAFETY: register-only DSP instructions (no memory, no flags), available with `dsp`.
        unsafe {
            asm!(
                "uxtb16 {t0}, {w0}",
                "sxtb16 {t1}, {w0}, ror #8",
                "smlad {a}, {xx}, {t0}, {a}",
                "smladx {b}, {xx}, {t1}, {b}",
                "uxtb16 {t0}, {w1}",
                "sxtb16 {t1}, {w1}, ror #8",
                "smlad {c}, {xx}, {t0}, {c}",
                "smladx {d}, {xx}, {t1}, {d}",
                w0 = in(reg) w0, w1 = in(reg) w1, xx = in(reg) xx,
                t0 = out(reg) _, t1 = out(reg) _,
                a = inout(reg) acc[0], b = inout(reg) acc[1],
                c = inout(reg) acc[2], d = inout(reg) acc[3],
                options(pure, nomem, nostack),
            );
        }
    }
    let offset = 128 * sum_x;
    [acc[0] - offset, acc[1], acc[2] - offset, acc[3]]
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::format::WeightGeometry;
    use crate::rng::Rng;
    use std::vec;

    /// The fast kernel against the reference on random windows and weights, extremes included.
    #[test]
    fn packed_matches_reference() {
        let mut rng = Rng::new(7);
        for case in 0..2000 {
            let n = 2 * (1 + rng.below(MAX_CHUNK as u32 / 2) as usize);
            let extreme = case % 5 == 0;
            let x: std::vec::Vec<i32> = (0..n)
                .map(|_| {
                    if extreme {
                        [-128, 127][rng.below(2) as usize]
                    } else {
                        rng.below(256) as i32 - 128
                    }
                })
                .collect();
            let g = WeightGeometry::dense(n, 4);
            let mut w = vec![0u8; g.len() as usize];
            let pick = |rng: &mut Rng| {
                if extreme {
                    [-127i8, 127][rng.below(2) as usize]
                } else {
                    (rng.below(255) as i32 - 127) as i8
                }
            };
            let table: std::vec::Vec<i8> = (0..4 * n).map(|_| pick(&mut rng)).collect();
            g.pack(&mut w, |v, _, i| table[v * n + i]);
            let sum: i32 = x.iter().sum();
            let want: [i32; 4] =
                core::array::from_fn(|v| (0..n).map(|i| x[i] * table[v * n + i] as i32).sum());
            assert_eq!(
                quad_dot_reference(&x, &w, sum),
                want,
                "reference, case {case}"
            );
            assert_eq!(quad_dot_packed(&x, &w, sum), want, "packed, case {case}");
        }
    }
}

//! The inner loops: dot products of one input window with the four output values of one weight
//! group in the quad layout (see [`crate::format`]).
//!
//! Three implementations of the same integer function, selected at compile time by
//! [`quad_dot`], all exact (so all give identical bytes):
//! * [`quad_dot_packed`], portable Rust: two MACs per 32×32→64-bit multiply-accumulate (`SMLAL`
//!   on a Cortex-M3, where the same loop is hand-written in Thumb-2: `quad_dot_smlal`);
//! * `quad_dot_sse2` (x86-64 only): `PMADDWD`, eight MACs per instruction (the generic path's;
//!   x86-64 mostly runs its own layer loop, below);
//! * `quad_dot_dsp` (Cortex-M4/M7 with the DSP extension only, crate feature `dsp` on stable):
//!   `UXTB16`/`SXTB16` unpack a word into int16 pairs for `SMLAD`/`SMLADX`, two MACs per
//!   instruction;
//! * [`quad_dot_reference`], the plain one (unpack every weight, one MAC at a time), for tests.
//!
//! The forward pass (`run_layer`) holds a window's inputs in a buffer of `i32` slots in the
//! form its kernel reads ([`PAIR_SLOTS`] per input pair): one sign-extended input per slot for
//! the portable kernels; on the DSP extension one packed int16 pair `(x0, x1)` per slot, converted
//! once per window ([`widen_taps`]: `SXTB16` + `PKHBT`/`PKHTB`), so that the kernel's `SMLAD`s take
//! the inputs as they are loaded. [`quad_dot_groups`] runs a window against a batch of consecutive
//! weight groups: on the DSP extension one asm routine that loops over groups, segments and input
//! pairs itself (`LDM` of four weight words, 18 instructions per 16 MACs).
//!
//! One file per target, the `cfg` on each `mod` line here:
//! * `kernel/mod.rs` (this file): [`MAX_CHUNK`], the dispatch ([`quad_dot`], [`quad_dot_groups`];
//!   [`widen`], [`widen_taps`] and [`quad_dot_acc`] are re-exported from the target's file),
//!   [`Segment`], [`PAIR_SLOTS`], the packed-accumulator helpers, [`quad_dot_reference`] and the
//!   tests;
//! * `kernel/portable.rs` (every target): [`quad_dot_packed`], and on every target but the DSP
//!   one the window buffer's form of the portable kernels (`widen`, `widen_taps`, `quad_dot_acc`);
//! * `kernel/m3.rs` (Cortex-M3 only): `quad_dot_smlal`;
//! * `kernel/x86.rs` (x86-64 only): `quad_dot_sse2`; the run-time detection of the instruction
//!   set (`level`: SSE2, AVX2, or AVX2 + AVX-512 VNNI; `CPUID`/`XGETBV`, no `std`); and the kernels
//!   of the x86-64 layer loop (`forward/x86.rs`, which `run_layer` hands every layer with an even
//!   number of input channels when the model has wide weights or the CPU has AVX2): `wide_dot`
//!   (wide weights: `PMADDWD`/`VPMADDWD`/`VPDPWSSD` straight on the loaded words, the input pair
//!   broadcast) and `quad_dot_avx2` (the int8 weights: `VPXOR` + `VPSHUFB` zero-extend every
//!   `w + 128` into its int16 lane, `128 · Σx` subtracted at the end). Both read the layer's int8
//!   inputs in place, up to eight groups per call;
//! * `kernel/dsp.rs` (DSP extension only): the whole DSP path: its window form (`widen`, and
//!   `widen_taps` with its asm routine), `quad_dot_acc`, the batched routine
//!   `quad_dot_groups_dsp` and `quad_dot_dsp`. `widen_taps` is a whole function per file (not a
//!   DSP helper returning whether it ran): that form compiles to other code on the M4 (about
//!   1 000 more instructions per digit).

use crate::format::{QUAD, QUAD_PAIR_BYTES, WIDE_PER_QUAD};

/// Whether this build runs the DSP kernel (Cortex-M4/M7 with the DSP extension).
macro_rules! cfg_dsp {
    ($($item:item)*) => {$(
        #[cfg(all(
            target_arch = "arm",
            any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
        ))]
        $item
    )*};
}
macro_rules! cfg_not_dsp {
    ($($item:item)*) => {$(
        #[cfg(not(all(
            target_arch = "arm",
            any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
        )))]
        $item
    )*};
}

mod portable;
pub use portable::quad_dot_packed;
cfg_not_dsp! {
    pub(crate) use portable::{input_pair, quad_dot_acc, widen, widen_taps};
}
cfg_dsp! {
    mod dsp;
    pub(crate) use dsp::{input_pair, quad_dot_acc, widen, widen_taps};
}
// Cortex-M3 (ARMv7-M without DSP).
#[cfg(all(
    target_arch = "arm",
    target_has_atomic = "32",
    not(any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf")))
))]
mod m3;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

/// Most inputs one call may take: keeps the low 24-bit field of the packed accumulator exact
/// (`|Σ x·(w + 128)| ≤ 256 · 128 · 255 < 2^23`).
pub const MAX_CHUNK: usize = 256;

/// The four dot products `Σ x[i] · w(v, i)` for the group's output values `v = 0..4`.
///
/// `x`: sign-extended int8 inputs, even length `≤ MAX_CHUNK`; `w`: the group's quad-layout bytes
/// for these inputs (`x.len() / 2 · 8` bytes, 4-aligned); `sum_x`: `Σ x`.
#[inline(always)]
pub fn quad_dot(x: &[i32], w: &[u8], sum_x: i32) -> [i32; 4] {
    // Cortex-M4/M7 with the DSP extension: `target_feature = "dsp"` (nightly only), or this crate's
    // `dsp` feature on a hard-float Cortex-M target (stable Rust does not expose the DSP cfg).
    #[cfg(all(
        target_arch = "arm",
        any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
    ))]
    {
        dsp::quad_dot_dsp(x, w, sum_x)
    }
    #[cfg(target_arch = "x86_64")]
    {
        let _ = sum_x;
        x86::quad_dot_sse2(x, w)
    }
    // Cortex-M3 (ARMv7-M without DSP).
    #[cfg(all(
        target_arch = "arm",
        target_has_atomic = "32",
        not(any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf")))
    ))]
    {
        m3::quad_dot_smlal(x, w, sum_x)
    }
    // Everything else: Cortex-M0+ (ARMv6-M), other architectures.
    #[cfg(not(any(
        all(target_arch = "arm", target_has_atomic = "32"),
        target_arch = "x86_64"
    )))]
    {
        quad_dot_packed(x, w, sum_x)
    }
}

cfg_dsp! {
    /// Window-buffer slots (`i32`) per input pair in the form [`quad_dot_acc`] and
    /// [`quad_dot_groups`] read: one packed int16 pair (`x0` low, `x1` high) for the DSP kernel.
    pub(crate) const PAIR_SLOTS: usize = 1;
}
cfg_not_dsp! {
    /// Window-buffer slots (`i32`) per input pair in the form [`quad_dot_acc`] and
    /// [`quad_dot_groups`] read: two sign-extended inputs for the portable kernels.
    pub(crate) const PAIR_SLOTS: usize = 2;
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

/// One contiguous run of a window: input slots `xs[start..end]`, the group's weights from byte
/// `w_offset`, and `Σ` of its inputs. `repr(C)`: the DSP kernel reads it.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Segment {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) w_offset: usize,
    pub(crate) sum: i32,
}

/// The weights of a batch of consecutive groups (group `k`'s at `k · group_bytes` bytes of the
/// quad layout): the blob's int8 quad layout, or the same in the wide layout
/// ([`crate::format::widen_quad_word`], every offset doubled).
#[derive(Clone, Copy, Debug)]
pub(crate) enum GroupWeights<'a> {
    /// The blob's quad layout.
    Quad(&'a [u8]),
    /// The wide layout (`crate::Model::use_wide_weights`).
    Wide(&'a [u32]),
}

/// The four dot products of each of `accs.len()` consecutive weight groups (`weights`, group
/// `k`'s at byte `k · group_bytes` of the quad layout) with the window `xs` (in the kernel's form)
/// over the segments `segs`, plus group `k`'s four int32 biases (little-endian, `bias[16 ·
/// k..16 · k + 16]`), written to `accs[k]`.
#[inline(always)]
pub(crate) fn quad_dot_groups(
    accs: &mut [[i32; 4]],
    xs: &[i32],
    segs: &[Segment],
    weights: GroupWeights<'_>,
    group_bytes: usize,
    bias: &[u8],
) {
    #[cfg(all(
        target_arch = "arm",
        any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
    ))]
    if dsp::quad_dot_groups_dsp(accs, xs, segs, weights, group_bytes, bias) {
        return;
    }
    let w = match weights {
        GroupWeights::Quad(w) => w,
        GroupWeights::Wide(wide) => {
            let group_words = group_bytes * WIDE_PER_QUAD / 4;
            return wide_groups_portable(accs, (xs, segs), wide.chunks_exact(group_words), bias);
        }
    };
    let groups = accs.iter_mut().zip(bias.chunks_exact(16));
    for ((acc, b), w) in groups.zip(w.chunks_exact(group_bytes)) {
        *acc = bias_quad(b);
        for seg in segs {
            let n = seg.end - seg.start;
            quad_dot_acc(
                acc,
                &xs[seg.start..seg.end],
                &w[seg.w_offset..seg.w_offset + n / PAIR_SLOTS * QUAD_PAIR_BYTES],
                seg.sum,
            );
        }
    }
}

/// [`quad_dot_groups`] on wide weights (one chunk per group), one MAC at a time: every target
/// without the DSP routine (and the DSP one when its checks fail). Out of line: it keeps the int8
/// path's code as it was.
#[inline(never)]
fn wide_groups_portable(
    accs: &mut [[i32; 4]],
    (xs, segs): (&[i32], &[Segment]),
    wide: core::slice::ChunksExact<'_, u32>,
    bias: &[u8],
) {
    for ((acc, b), w) in accs.iter_mut().zip(bias.chunks_exact(16)).zip(wide) {
        *acc = bias_quad(b);
        for seg in segs {
            let w = &w[seg.w_offset * WIDE_PER_QUAD / 4..];
            let pairs = seg.start / PAIR_SLOTS..seg.end / PAIR_SLOTS;
            for (p, w) in pairs.zip(w.chunks_exact(QUAD)) {
                let (x0, x1) = input_pair(xs, p);
                for (a, &w) in acc.iter_mut().zip(w) {
                    *a += x0 * (w as i16 as i32) + x1 * ((w >> 16) as i16 as i32);
                }
            }
        }
    }
}

/// Four little-endian int32 biases (16 bytes).
#[inline(always)]
fn bias_quad(b: &[u8]) -> [i32; 4] {
    core::array::from_fn(|j| {
        i32::from_le_bytes([b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]])
    })
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

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::format::WeightGeometry;
    use crate::rng::Rng;
    use std::vec;

    /// Run-time detection agrees with `std`'s.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn detection_agrees_with_std() {
        let vnni = std::is_x86_feature_detected!("avx512vnni")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512f");
        let want = match (std::is_x86_feature_detected!("avx2"), vnni) {
            (true, true) => x86::Level::Vnni,
            (true, false) => x86::Level::Avx2,
            _ => x86::Level::Sse2,
        };
        assert_eq!(x86::level(), want);
    }

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
            #[cfg(target_arch = "x86_64")]
            assert_eq!(x86::quad_dot_sse2(&x, &w), want, "sse2, case {case}");
        }
    }
}

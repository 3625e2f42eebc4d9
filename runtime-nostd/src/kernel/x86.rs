//! The x86-64 kernel: [`quad_dot_sse2`] (`PMADDWD`, eight MACs per instruction). Compiled for
//! x86-64 only (the `cfg` is on `mod x86` in `kernel/mod.rs`).

use crate::format::QUAD_PAIR_BYTES;

/// [`quad_dot`](super::quad_dot) on x86-64 with SSE2 (part of the x86-64 baseline, so always
/// available): per 16 weight bytes (two input pairs × four values), undo the `^ 0x80`, sign-extend
/// to int16, reorder each word's lanes from `(a i0, b i1, a i1, b i0)` to
/// `(a i0, a i1, b i0, b i1)`, and `PMADDWD` with the input pair repeated: eight MACs per
/// instruction into the four int32 sums.
#[inline(always)]
pub fn quad_dot_sse2(x: &[i32], w: &[u8]) -> [i32; 4] {
    use core::arch::x86_64::*;
    // Lane order (0, 2, 3, 1) within each half: `_MM_SHUFFLE(1, 3, 2, 0)`.
    const ORDER: i32 = 0b01_11_10_00;
    let xs = x.chunks_exact(4);
    let ws = w.chunks_exact(2 * QUAD_PAIR_BYTES);
    let (x_rest, w_rest) = (xs.remainder(), ws.remainder());
    let mut out = [0i32; 4];
    // SAFETY: SSE2 is part of the x86-64 baseline; every load and store is unaligned and from or
    // into a slice of exactly its size (4 i32 or 16 u8; 8 u8; [i32; 4]).
    unsafe {
        let widen = |v| _mm_shufflehi_epi16::<ORDER>(_mm_shufflelo_epi16::<ORDER>(v));
        let flip = _mm_set1_epi32(0x0080_0080);
        let mut acc = _mm_setzero_si128();
        for (x, w) in xs.zip(ws) {
            let xv = _mm_loadu_si128(x.as_ptr().cast());
            let xv = _mm_packs_epi32(xv, xv); // (x0, x1, x2, x3) as int16, twice
            let wv = _mm_xor_si128(_mm_loadu_si128(w.as_ptr().cast()), flip);
            let lo = widen(_mm_srai_epi16::<8>(_mm_unpacklo_epi8(wv, wv)));
            let hi = widen(_mm_srai_epi16::<8>(_mm_unpackhi_epi8(wv, wv)));
            acc = _mm_add_epi32(acc, _mm_madd_epi16(lo, _mm_shuffle_epi32::<0x00>(xv)));
            acc = _mm_add_epi32(acc, _mm_madd_epi16(hi, _mm_shuffle_epi32::<0x55>(xv)));
        }
        if let ([x0, x1], Some(w)) = (x_rest, w_rest.get(..QUAD_PAIR_BYTES)) {
            let pair = (*x0 as u32 & 0xFFFF) | ((*x1 as u32) << 16);
            let wv = _mm_xor_si128(_mm_loadl_epi64(w.as_ptr().cast()), flip);
            let lo = widen(_mm_srai_epi16::<8>(_mm_unpacklo_epi8(wv, wv)));
            acc = _mm_add_epi32(acc, _mm_madd_epi16(lo, _mm_set1_epi32(pair as i32)));
        }
        _mm_storeu_si128(out.as_mut_ptr().cast(), acc);
    }
    out
}

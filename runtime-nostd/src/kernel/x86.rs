//! The x86-64 kernels. Compiled for x86-64 only (the `cfg` is on `mod x86` in `kernel/mod.rs`).
//!
//! * [`quad_dot_sse2`] (`PMADDWD`, eight MACs per instruction): the generic forward path's kernel
//!   (int8 weights, the window buffer's sign-extended inputs).
//! * [`level`]: the instruction set, detected once at run time without `std` (`CPUID`, `XGETBV`):
//!   [`Level::Sse2`] (baseline), [`Level::Avx2`], or [`Level::Vnni`] (AVX2 plus AVX-512 VNNI and
//!   VL, for the 256-bit `VPDPWSSD`).
//! * The kernels of the x86-64 layer loop (`forward/x86.rs`), which read the layer's int8 inputs
//!   in place ([`Run`]s of input pairs) for up to eight weight groups at once: [`wide_dot`] on the
//!   wide weights (SSE2, AVX2 or VNNI: no weight unpacking at all) and [`quad_dot_avx2`] on the
//!   blob's int8 weights (AVX2 or VNNI: half the bytes, for layers too large for the cache). The
//!   AVX2 and VNNI instances are one macro body (`avx2_kernels!`) compiled twice with different
//!   `target_feature`s.

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

/// The instruction set the host kernels use, detected once at run time ([`level`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// Baseline x86-64: 128-bit `PMADDWD`.
    Sse2,
    /// AVX2 (CPU and OS support for the 256-bit registers): 256-bit `VPMADDWD`.
    Avx2,
    /// AVX2 and AVX-512 VNNI with AVX-512VL (and OS support for the AVX-512 state): 256-bit
    /// `VPDPWSSD` (multiply-add and accumulate in one instruction, 32 more registers).
    Vnni,
}

impl Level {
    /// Whether the AVX2 kernels run at this level (AVX2 or VNNI).
    pub(crate) fn avx2(self) -> bool {
        self != Level::Sse2
    }
}

/// The best [`Level`] this CPU and OS support: `CPUID` (AVX2, AVX, OSXSAVE) and `XGETBV` (the OS
/// saves the SSE and AVX registers), detected on the first call and cached (no `std` needed).
pub(crate) fn level() -> Level {
    use core::sync::atomic::{AtomicU8, Ordering::Relaxed};
    // 0: not yet detected, 1: SSE2, 2: AVX2, 3: VNNI.
    static LEVEL: AtomicU8 = AtomicU8::new(0);
    match LEVEL.load(Relaxed) {
        1 => Level::Sse2,
        2 => Level::Avx2,
        3 => Level::Vnni,
        _ => {
            let level = detect();
            let code = match level {
                Level::Sse2 => 1,
                Level::Avx2 => 2,
                Level::Vnni => 3,
            };
            LEVEL.store(code, Relaxed);
            level
        }
    }
}

/// [`level`], uncached.
fn detect() -> Level {
    use core::arch::x86_64::__cpuid_count;
    let leaf1 = __cpuid_count(1, 0);
    let (osxsave, avx) = (leaf1.ecx & (1 << 27) != 0, leaf1.ecx & (1 << 28) != 0);
    if !(osxsave && avx) || __cpuid_count(0, 0).eax < 7 {
        return Level::Sse2;
    }
    // SAFETY: OSXSAVE is set, so XGETBV is available and XCR0 readable.
    let xcr0 = unsafe { xcr0() };
    let leaf7 = __cpuid_count(7, 0);
    let avx2 = leaf7.ebx & (1 << 5) != 0;
    // AVX512F, AVX512VL, AVX512_VNNI.
    let vnni =
        leaf7.ebx & (1 << 16) != 0 && leaf7.ebx & (1 << 31) != 0 && leaf7.ecx & (1 << 11) != 0;
    // XCR0 bits 1 and 2: the OS saves the XMM and YMM registers; bits 5 to 7: the AVX-512 state.
    match (
        avx2 && xcr0 & 0b110 == 0b110,
        vnni && xcr0 & 0b1110_0000 == 0b1110_0000,
    ) {
        (true, true) => Level::Vnni,
        (true, false) => Level::Avx2,
        _ => Level::Sse2,
    }
}

/// `XGETBV(0)`. Safety: only where `CPUID.1:ECX.OSXSAVE` is set.
#[target_feature(enable = "xsave")]
unsafe fn xcr0() -> u64 {
    // SAFETY: the caller checked OSXSAVE.
    unsafe { core::arch::x86_64::_xgetbv(0) }
}

/// One contiguous run of a window for [`wide_dot`]: `pairs` input pairs from byte `x` of the
/// layer's input, against the wide words from word `w` of every group's weights.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Run {
    pub(crate) x: usize,
    pub(crate) w: usize,
    pub(crate) pairs: usize,
}

/// Adds to `accs[k]` the four dot products of group `k` (wide words from `k · group_words` of
/// `wide`) with the window `runs` of the int8 input `x`, at `level`. Reads the int8 inputs as they
/// are (no window buffer): `PMOVSXBW` and `VPERMD` put input pairs in every 32-bit lane once per
/// four pairs for all `K` groups, then one `PMADDWD` per two pairs (AVX2) or per pair (SSE2)
/// multiplies a group's four values without unpacking any weight.
///
/// Panics if a run is out of bounds (the caller's geometry is validated at load).
#[inline(always)]
pub(crate) fn wide_dot<const K: usize>(
    level: Level,
    accs: &mut [[i32; 4]; K],
    x: &[i8],
    runs: &[Run],
    wide: &[u32],
    group_words: usize,
) {
    for r in runs {
        // The bounds checks of every load below, once per run.
        let _ = &x[r.x..r.x + 2 * r.pairs];
        let _ = &wide[..(K - 1) * group_words + r.w + 4 * r.pairs];
    }
    match level {
        // SAFETY: AVX2 is present (detected); the runs are in bounds (checked above).
        Level::Avx2 => unsafe { wide_dot_avx2(accs, x, runs, wide, group_words) },
        // SAFETY: AVX2 and VNNI are present (detected); the runs are in bounds (checked above).
        Level::Vnni => unsafe { wide_dot_vnni(accs, x, runs, wide, group_words) },
        // SAFETY: SSE2 is baseline; the runs are in bounds (checked above).
        Level::Sse2 => unsafe { wide_dot_sse2(accs, x, runs, wide, group_words) },
    }
}

/// Input pair `(x[i], x[i + 1])` as one int16 pair (`x[i]` low). Safety: `i + 1` in bounds of the
/// slice `x` points into.
#[inline(always)]
unsafe fn pair_at(x: *const i8, i: usize) -> i32 {
    // SAFETY: the caller's bounds.
    let (x0, x1) = unsafe { (*x.add(i), *x.add(i + 1)) };
    ((x0 as i16 as u16 as u32) | ((x1 as i16 as u16 as u32) << 16)) as i32
}

/// [`wide_dot`] with SSE2. Safety: runs in bounds.
#[target_feature(enable = "sse2")]
unsafe fn wide_dot_sse2<const K: usize>(
    accs: &mut [[i32; 4]; K],
    x: &[i8],
    runs: &[Run],
    wide: &[u32],
    group_words: usize,
) {
    use core::arch::x86_64::*;
    let mut acc = [_mm_setzero_si128(); K];
    for r in runs {
        // SAFETY (every pointer below): inside `x[r.x..r.x + 2 · pairs]` and
        // `wide[..(K - 1) · group_words + r.w + 4 · pairs]` (the caller's bounds).
        let xp = unsafe { x.as_ptr().add(r.x) };
        let wp = unsafe { wide.as_ptr().add(r.w) };
        for q in 0..r.pairs {
            // SAFETY: one input pair of the run.
            let xv = _mm_set1_epi32(unsafe { pair_at(xp, 2 * q) });
            for (k, acc) in acc.iter_mut().enumerate() {
                // SAFETY: four words of group `k`'s run.
                let w = unsafe { _mm_loadu_si128(wp.add(k * group_words + 4 * q).cast()) };
                *acc = _mm_add_epi32(*acc, _mm_madd_epi16(w, xv));
            }
        }
    }
    for (out, acc) in accs.iter_mut().zip(acc) {
        let mut s = [0i32; 4];
        // SAFETY: an unaligned store into a `[i32; 4]`.
        unsafe { _mm_storeu_si128(s.as_mut_ptr().cast(), acc) };
        for (o, s) in out.iter_mut().zip(s) {
            *o += s;
        }
    }
}

/// Adds to `accs[k]` the four dot products of group `k` (the blob's int8 quad-layout bytes from
/// `k · group_bytes` of `quad`) with the window `runs` (`Run::w` in bytes) of the int8 input `x`,
/// with AVX2 (half the weight bytes of [`wide_dot`], for layers too large for the caches). Per
/// four input pairs of a group (32 bytes): `VPXOR` the `b` weights with `0x80` too, so that every
/// byte is `w + 128` (unsigned), `VPSHUFB` each into the low byte of a zeroed int16 lane in
/// `PMADDWD` order (the zero extension is free), two `VPMADDWD`s; `128 · Σx` is subtracted at the
/// end (the packed kernel's offset). A run's last `pairs % 4` pairs one MAC at a time.
///
/// Panics if a run is out of bounds (the caller's geometry is validated at load). Safety: the
/// features of `level` present ([`level`]), and `level` not SSE2.
#[inline(always)]
pub(crate) unsafe fn quad_dot_avx2<const K: usize>(
    level: Level,
    accs: &mut [[i32; 4]; K],
    x: &[i8],
    runs: &[Run],
    quad: &[u8],
    group_bytes: usize,
) {
    for r in runs {
        // The bounds checks of every load below, once per run.
        let _ = &x[r.x..r.x + 2 * r.pairs];
        let _ = &quad[..(K - 1) * group_bytes + r.w + QUAD_PAIR_BYTES * r.pairs];
    }
    match level {
        // SAFETY: the caller's VNNI; the runs are in bounds (checked above).
        Level::Vnni => unsafe { quad_dot_vnni_unchecked(accs, x, runs, quad, group_bytes) },
        // SAFETY: the caller's AVX2; the runs are in bounds (checked above).
        _ => unsafe { quad_dot_avx2_unchecked(accs, x, runs, quad, group_bytes) },
    }
}

/// `acc[0] += w0 · x0 + w1 · x1` (two `VPMADDWD`s and adds), or with VNNI `acc[0] += w0 · x0`,
/// `acc[1] += w1 · x1` (two `VPDPWSSD`s).
macro_rules! mac {
    (false, $acc:expr, $w0:expr, $x0:expr, $w1:expr, $x1:expr) => {{
        let m = _mm256_add_epi32(_mm256_madd_epi16($w0, $x0), _mm256_madd_epi16($w1, $x1));
        $acc[0] = _mm256_add_epi32($acc[0], m);
    }};
    (true, $acc:expr, $w0:expr, $x0:expr, $w1:expr, $x1:expr) => {{
        $acc[0] = _mm256_dpwssd_epi32($acc[0], $w0, $x0);
        $acc[1] = _mm256_dpwssd_epi32($acc[1], $w1, $x1);
    }};
}

/// The AVX2 kernels, once for AVX2 and once for AVX2 with AVX-512 VNNI (256-bit `VPDPWSSD`).
macro_rules! avx2_kernels {
    ($features:literal, $vnni:tt, $wide:ident, $quad:ident) => {
        /// [`wide_dot`] with AVX2 (and VNNI in the `_vnni` instance). Safety: those features
        /// present, runs in bounds.
        #[inline]
        #[target_feature(enable = $features)]
        unsafe fn $wide<const K: usize>(
            accs: &mut [[i32; 4]; K],
            x: &[i8],
            runs: &[Run],
            wide: &[u32],
            group_words: usize,
        ) {
            use core::arch::x86_64::*;
            let lo = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
            let hi = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
            // Two accumulators per group (the second only with VNNI, whose multiply-adds chain).
            let mut acc = [[_mm256_setzero_si256(); 2]; K];
            let mut tail = [_mm_setzero_si128(); K];
            for r in runs {
                // SAFETY (every pointer below): inside `x[r.x..r.x + 2 · pairs]` and
                // `wide[..(K - 1) · group_words + r.w + 4 · pairs]` (the caller's bounds).
                let xp = unsafe { x.as_ptr().add(r.x) };
                let wp = unsafe { wide.as_ptr().add(r.w) };
                let mut q = 0;
                while q + 4 <= r.pairs {
                    // SAFETY: eight inputs of the run.
                    let xv = unsafe { _mm_loadl_epi64(xp.add(2 * q).cast()) };
                    let xv = _mm256_castsi128_si256(_mm_cvtepi8_epi16(xv));
                    let (x01, x23) = (
                        _mm256_permutevar8x32_epi32(xv, lo),
                        _mm256_permutevar8x32_epi32(xv, hi),
                    );
                    for (k, acc) in acc.iter_mut().enumerate() {
                        // SAFETY: 16 words of group `k`'s run.
                        let (w01, w23) = unsafe {
                            let w = wp.add(k * group_words + 4 * q);
                            (
                                _mm256_loadu_si256(w.cast()),
                                _mm256_loadu_si256(w.add(8).cast()),
                            )
                        };
                        mac!($vnni, acc, w01, x01, w23, x23);
                    }
                    q += 4;
                }
                while q < r.pairs {
                    // SAFETY: one input pair of the run.
                    let xv = _mm_set1_epi32(unsafe { pair_at(xp, 2 * q) });
                    for (k, tail) in tail.iter_mut().enumerate() {
                        // SAFETY: four words of group `k`'s run.
                        let w = unsafe { _mm_loadu_si128(wp.add(k * group_words + 4 * q).cast()) };
                        *tail = _mm_add_epi32(*tail, _mm_madd_epi16(w, xv));
                    }
                    q += 1;
                }
            }
            for ((out, [a0, a1]), tail) in accs.iter_mut().zip(acc).zip(tail) {
                let acc = _mm256_add_epi32(a0, a1);
                let sum = _mm_add_epi32(
                    _mm_add_epi32(
                        _mm256_castsi256_si128(acc),
                        _mm256_extracti128_si256::<1>(acc),
                    ),
                    tail,
                );
                let mut s = [0i32; 4];
                // SAFETY: an unaligned store into a `[i32; 4]`.
                unsafe { _mm_storeu_si128(s.as_mut_ptr().cast(), sum) };
                for (o, s) in out.iter_mut().zip(s) {
                    *o += s;
                }
            }
        }

        /// [`quad_dot_avx2`] after its bounds checks (with VNNI in the `_vnni` instance).
        /// Safety: those features present, runs in bounds.
        #[inline]
        #[target_feature(enable = $features)]
        unsafe fn $quad<const K: usize>(
            accs: &mut [[i32; 4]; K],
            x: &[i8],
            runs: &[Run],
            quad: &[u8],
            group_bytes: usize,
        ) {
            use core::arch::x86_64::*;
            // Pairs 0, 2 (first and second 128-bit lane of a 32-byte load) and 1, 3.
            let x02 = _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2);
            let x13 = _mm256_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3);
            // `[a0 ^ 0x80, b1, a1 ^ 0x80, b0, c0 ^ 0x80, d1, c1 ^ 0x80, d0]` per pair: flip the `b`
            // and `d` bytes too, so that every byte is its weight plus 128.
            let flip = _mm256_set1_epi16(0x8000u16 as i16);
            // Each byte into the low byte of int16 lanes `(a0, a1, b0, b1, c0, c1, d0, d1)`; `-1` zeroes
            // the high byte. The first pair of each 128-bit lane, then the second.
            const Z: i8 = -1;
            #[rustfmt::skip]
    let (even, odd) = (
        _mm256_setr_epi8(
            0, Z, 2, Z, 3, Z, 1, Z, 4, Z, 6, Z, 7, Z, 5, Z,
            0, Z, 2, Z, 3, Z, 1, Z, 4, Z, 6, Z, 7, Z, 5, Z,
        ),
        _mm256_setr_epi8(
            8, Z, 10, Z, 11, Z, 9, Z, 12, Z, 14, Z, 15, Z, 13, Z,
            8, Z, 10, Z, 11, Z, 9, Z, 12, Z, 14, Z, 15, Z, 13, Z,
        ),
    );
            let ones = _mm_set1_epi16(1);
            // Σx of the pairs multiplied by the offset weights (four partial sums).
            let mut xsum = _mm_setzero_si128();
            let mut acc = [[_mm256_setzero_si256(); 2]; K];
            let mut tail = [[0i32; 4]; K];
            for r in runs {
                // SAFETY (every pointer below): inside `x[r.x..r.x + 2 · pairs]` and
                // `quad[..(K - 1) · group_bytes + r.w + 8 · pairs]` (the caller's bounds).
                let xp = unsafe { x.as_ptr().add(r.x) };
                let wp = unsafe { quad.as_ptr().add(r.w) };
                let mut q = 0;
                while q + 4 <= r.pairs {
                    // SAFETY: eight inputs of the run.
                    let xv = unsafe { _mm_loadl_epi64(xp.add(2 * q).cast()) };
                    let xv = _mm_cvtepi8_epi16(xv);
                    xsum = _mm_add_epi32(xsum, _mm_madd_epi16(xv, ones));
                    let xv = _mm256_castsi128_si256(xv);
                    let (xa, xb) = (
                        _mm256_permutevar8x32_epi32(xv, x02),
                        _mm256_permutevar8x32_epi32(xv, x13),
                    );
                    for (k, acc) in acc.iter_mut().enumerate() {
                        // SAFETY: 32 bytes of group `k`'s run.
                        let w =
                            unsafe { _mm256_loadu_si256(wp.add(k * group_bytes + 8 * q).cast()) };
                        let w = _mm256_xor_si256(w, flip);
                        let (wa, wb) = (_mm256_shuffle_epi8(w, even), _mm256_shuffle_epi8(w, odd));
                        mac!($vnni, acc, wa, xa, wb, xb);
                    }
                    q += 4;
                }
                while q < r.pairs {
                    // SAFETY: one input pair of the run.
                    let (x0, x1) = unsafe { (*xp.add(2 * q) as i32, *xp.add(2 * q + 1) as i32) };
                    for (k, tail) in tail.iter_mut().enumerate() {
                        // SAFETY: the pair's eight bytes of group `k`'s run.
                        let w = unsafe { *wp.add(k * group_bytes + 8 * q).cast::<[u8; 8]>() };
                        let s = |b: u8| b as i8 as i32;
                        tail[0] += x0 * s(w[0] ^ 0x80) + x1 * s(w[2] ^ 0x80);
                        tail[1] += x0 * s(w[3]) + x1 * s(w[1]);
                        tail[2] += x0 * s(w[4] ^ 0x80) + x1 * s(w[6] ^ 0x80);
                        tail[3] += x0 * s(w[7]) + x1 * s(w[5]);
                    }
                    q += 1;
                }
            }
            // 128 · Σx in every lane.
            let xsum = _mm_add_epi32(xsum, _mm_shuffle_epi32::<0b01_00_11_10>(xsum));
            let xsum = _mm_add_epi32(xsum, _mm_shuffle_epi32::<0b10_11_00_01>(xsum));
            let offset = _mm_slli_epi32::<7>(xsum);
            for ((out, [a0, a1]), tail) in accs.iter_mut().zip(acc).zip(tail) {
                let acc = _mm256_add_epi32(a0, a1);
                let sum = _mm_add_epi32(
                    _mm256_castsi256_si128(acc),
                    _mm256_extracti128_si256::<1>(acc),
                );
                let sum = _mm_sub_epi32(sum, offset);
                let mut s = [0i32; 4];
                // SAFETY: an unaligned store into a `[i32; 4]`.
                unsafe { _mm_storeu_si128(s.as_mut_ptr().cast(), sum) };
                for ((o, s), t) in out.iter_mut().zip(s).zip(tail) {
                    *o += s + t;
                }
            }
        }
    };
}
avx2_kernels!("avx2", false, wide_dot_avx2, quad_dot_avx2_unchecked);
avx2_kernels!(
    "avx2,avx512f,avx512vl,avx512vnni",
    true,
    wide_dot_vnni,
    quad_dot_vnni_unchecked
);

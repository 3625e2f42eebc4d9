//! The inner loops: dot products of one input window with the four output values of one weight
//! group in the quad layout (see [`crate::format`]).
//!
//! Three implementations of the same integer function, selected at compile time by
//! [`quad_dot`], all exact (so all give identical bytes):
//! * [`quad_dot_packed`], portable Rust: two MACs per 32×32→64-bit multiply-accumulate (`SMLAL` on
//!   a Cortex-M3);
//! * `quad_dot_sse2` (x86-64 only): `PMADDWD`, eight MACs per instruction;
//! * `quad_dot_dsp` (Cortex-M4/M7 with the DSP extension only, crate feature `dsp` on stable): `UXTB16`/`SXTB16` unpack a word
//!   into int16 pairs for `SMLAD`/`SMLADX`, two MACs per instruction;
//! * [`quad_dot_reference`], the plain one (unpack every weight, one MAC at a time), for tests.
//!
//! The forward pass (`run_layer`) holds a window's inputs in a buffer of `i32` slots in the
//! form its kernel reads ([`PAIR_SLOTS`] per input pair): one sign-extended input per slot for
//! the portable kernels; on the DSP extension one packed int16 pair `(x0, x1)` per slot, converted
//! once per window ([`widen_taps`]: `SXTB16` + `PKHBT`/`PKHTB`), so that the kernel's `SMLAD`s take
//! the inputs as they are loaded. [`quad_dot_groups`] runs a window against a batch of consecutive
//! weight groups: on the DSP extension one asm routine that loops over groups, segments and input
//! pairs itself (`LDM` of four weight words, 18 instructions per 16 MACs).

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
    // Cortex-M4/M7 with the DSP extension: `target_feature = "dsp"` (nightly only), or this crate's
    // `dsp` feature on a hard-float Cortex-M target (stable Rust does not expose the DSP cfg).
    #[cfg(all(
        target_arch = "arm",
        any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
    ))]
    {
        quad_dot_dsp(x, w, sum_x)
    }
    #[cfg(target_arch = "x86_64")]
    {
        let _ = sum_x;
        quad_dot_sse2(x, w)
    }
    // Cortex-M3 (ARMv7-M without DSP).
    #[cfg(all(
        target_arch = "arm",
        target_has_atomic = "32",
        not(any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf")))
    ))]
    {
        quad_dot_smlal(x, w, sum_x)
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

cfg_dsp! {
    /// Window-buffer slots (`i32`) per input pair in the form [`quad_dot_acc`] and [`quad_dot_groups`] read: one
    /// packed int16 pair (`x0` low, `x1` high) for the DSP kernel.
    pub(crate) const PAIR_SLOTS: usize = 1;
}
cfg_not_dsp! {
    /// Window-buffer slots (`i32`) per input pair in the form [`quad_dot_acc`] and [`quad_dot_groups`] read: two
    /// sign-extended inputs for the portable kernels.
    pub(crate) const PAIR_SLOTS: usize = 2;
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
}

cfg_dsp! {
    /// Converts the int8 inputs `src` into `dst` in the kernel's form (its first
    /// `src.len().div_ceil(2) · PAIR_SLOTS` slots, an odd last input paired with 0) and returns
    /// `Σ src`.
    #[inline(always)]
    pub(crate) fn widen(dst: &mut [i32], src: &[i8]) -> i32 {
        let quads = src.len() / 4;
        let dst = &mut dst[..src.len().div_ceil(2)];
        let (d4, d_rest) = dst.split_at_mut(quads * 2);
        let (s4, s_rest) = src.split_at(quads * 4);
        let mut sum = 0;
        for (d, s) in d4.chunks_exact_mut(2).zip(s4.chunks_exact(4)) {
            let w = u32::from_le_bytes([s[0] as u8, s[1] as u8, s[2] as u8, s[3] as u8]);
            sum += widen4(d, w);
        }
        for (d, s) in d_rest.iter_mut().zip(s_rest.chunks(2)) {
            let (x0, x1) = (s[0] as i32, s.get(1).map_or(0, |&v| v as i32));
            sum += x0 + x1;
            *d = ((x0 as u32 & 0xFFFF) | ((x1 as u32) << 16)) as i32;
        }
        sum
    }
}

cfg_not_dsp! {
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

    /// Adds [`quad_dot`] of inputs in the window buffer's form (one slot per input) to `acc`.
    #[inline(always)]
    pub(crate) fn quad_dot_acc(acc: &mut [i32; 4], x: &[i32], w: &[u8], sum_x: i32) {
        let r = quad_dot(x, w, sum_x);
        for (a, r) in acc.iter_mut().zip(r) {
            *a += r;
        }
    }
}

/// One input pair (the packed int16 pair in register `{$x}`) times the group's two weight words
/// (`LDRD` from `{wp}`): `UXTB16` + `SXTB16 ROR 8` + `SMLAD`/`SMLADX` per word, 9 instructions
/// for 8 MACs.
#[cfg(all(
    target_arch = "arm",
    any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
))]
macro_rules! dsp_pair {
    ($x:literal) => {
        concat!(
            "ldrd {w0}, {w1}, [{wp}], #8\n",
            "uxtb16 {t}, {w0}\n",
            "sxtb16 {w0}, {w0}, ror #8\n",
            "smlad {a}, {",
            $x,
            "}, {t}, {a}\n",
            "smladx {b}, {",
            $x,
            "}, {w0}, {b}\n",
            "uxtb16 {t}, {w1}\n",
            "sxtb16 {w1}, {w1}, ror #8\n",
            "smlad {c}, {",
            $x,
            "}, {t}, {c}\n",
            "smladx {d}, {",
            $x,
            "}, {w1}, {d}\n",
        )
    };
}

/// Two input pairs (`r3`, `r4`, from `[r0]`) against four weight words (`r6`–`r9`, from `[r1]`):
/// 16 MACs into the accumulators `r10`, `r11`, `r12`, `lr`, 18 instructions. The one step the
/// `quad_dot_groups` routine unrolls (written once here, used at every unrolled position).
#[cfg(all(
    target_arch = "arm",
    any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
))]
macro_rules! dsp_two_pairs {
    () => {
        concat!(
            "ldrd r3, r4, [r0], #8\n",
            "ldm r1!, {{r6, r7, r8, r9}}\n",
            "uxtb16 r5, r6\n",
            "sxtb16 r6, r6, ror #8\n",
            "smlad r10, r3, r5, r10\n",
            "smladx r11, r3, r6, r11\n",
            "uxtb16 r5, r7\n",
            "sxtb16 r7, r7, ror #8\n",
            "smlad r12, r3, r5, r12\n",
            "smladx lr, r3, r7, lr\n",
            "uxtb16 r5, r8\n",
            "sxtb16 r8, r8, ror #8\n",
            "smlad r10, r4, r5, r10\n",
            "smladx r11, r4, r8, r11\n",
            "uxtb16 r5, r9\n",
            "sxtb16 r9, r9, ror #8\n",
            "smlad r12, r4, r5, r12\n",
            "smladx lr, r4, r9, lr\n",
        )
    };
}

cfg_dsp! {
    /// Four inputs (a little-endian word) as two packed int16 pairs `(x0, x1)`, `(x2, x3)`:
    /// `SXTB16` gives `(x0, x2)`, `SXTB16 ROR 8` `(x1, x3)`, `PKHBT`/`PKHTB` repair them; the sum
    /// from two `SMLAD`s with `(1, 1)`.
    #[inline(always)]
    fn widen4(d: &mut [i32], w: u32) -> i32 {
        let (p0, p1, sum): (u32, u32, i32);
        // SAFETY: register-only DSP instructions, present on the targets this is compiled for.
        unsafe {
            core::arch::asm!(
                "sxtb16 {e}, {w}",
                "sxtb16 {o}, {w}, ror #8",
                "pkhbt {p0}, {e}, {o}, lsl #16",
                "pkhtb {p1}, {o}, {e}, asr #16",
                "smuad {s}, {e}, {ones}",
                "smlad {s}, {o}, {ones}, {s}",
                w = in(reg) w,
                ones = in(reg) 0x0001_0001u32,
                e = out(reg) _,
                o = out(reg) _,
                p0 = out(reg) p0,
                p1 = out(reg) p1,
                s = out(reg) sum,
                options(pure, nomem, nostack),
            );
        }
        d[0] = p0 as i32;
        d[1] = p1 as i32;
        sum
    }

    /// Adds [`quad_dot`] of inputs in the window buffer's form to `acc`: `x` holds packed int16 pairs
    /// `(x0, x1)` ([`widen`]). Per two pairs: `LDRD` the two input words, two `LDRD`s the four
    /// weight words, and per weight word `UXTB16` + `SXTB16 ROR 8` + `SMLAD` + `SMLADX`; eight
    /// pairs per iteration: 78 instructions per 64 MACs, loop included (LLVM leaves no four
    /// registers in ascending order free for one `LDM`).
    #[inline(always)]
    pub(crate) fn quad_dot_acc(acc: &mut [i32; 4], x: &[i32], w: &[u8], sum_x: i32) {
        use core::arch::asm;
        let pairs = x.len().min(w.len() / QUAD_PAIR_BYTES);
        let xp = x.as_ptr();
        let wp = w.as_ptr();
        if (wp as usize) & 3 != 0 {
            // `LDRD` needs aligned weights (the blob's tensors are, when the blob is): one MAC at a
            // time otherwise.
            for (x, w) in x[..pairs].iter().zip(w.chunks_exact(QUAD_PAIR_BYTES)) {
                let (x0, x1) = (*x as i16 as i32, *x >> 16);
                for (j, w) in w.chunks_exact(4).enumerate() {
                    acc[2 * j] += x0 * (w[0] as i32 - 128) + x1 * (w[2] as i32 - 128);
                    acc[2 * j + 1] += x0 * (w[3] as i8 as i32) + x1 * (w[1] as i8 as i32);
                }
            }
            return;
        }
        // SAFETY: the asm reads `x[..pairs]` (word-aligned: `LDR`/`LDRD`) and
        // `w[..8 · pairs]` (word-aligned, checked above: `LDRD`), both in bounds.
        unsafe {
            asm!(
                                // An odd pair first.
                // `n & 1`, `n & 2`, `n & 4` pairs first, then eight pairs per iteration.
                "lsrs {n}, {n}, #1",
                "bcc 2f",
                "ldr {x0}, [{xp}], #4",
                dsp_pair!("x0"),
                "2:",
                "lsrs {n}, {n}, #1",
                "bcc 3f",
                "ldrd {x0}, {x1}, [{xp}], #8",
                dsp_pair!("x0"),
                dsp_pair!("x1"),
                "3:",
                "lsrs {n}, {n}, #1",
                "bcc 4f",
                "ldrd {x0}, {x1}, [{xp}], #8",
                dsp_pair!("x0"),
                dsp_pair!("x1"),
                "ldrd {x0}, {x1}, [{xp}], #8",
                dsp_pair!("x0"),
                dsp_pair!("x1"),
                "4:",
                "cmp {n}, #0",
                "beq 6f",
                "5:",
                "ldrd {x0}, {x1}, [{xp}], #8",
                dsp_pair!("x0"),
                dsp_pair!("x1"),
                "ldrd {x0}, {x1}, [{xp}], #8",
                dsp_pair!("x0"),
                dsp_pair!("x1"),
                "ldrd {x0}, {x1}, [{xp}], #8",
                dsp_pair!("x0"),
                dsp_pair!("x1"),
                "ldrd {x0}, {x1}, [{xp}], #8",
                dsp_pair!("x0"),
                dsp_pair!("x1"),
                "subs {n}, {n}, #1",
                "bne 5b",
                "6:",
                xp = inout(reg) xp => _,
                wp = inout(reg) wp => _,
                n = inout(reg) pairs => _,
                x0 = out(reg) _,
                x1 = out(reg) _,
                w0 = out(reg) _,
                w1 = out(reg) _,
                t = out(reg) _,
                a = inout(reg) acc[0],
                b = inout(reg) acc[1],
                c = inout(reg) acc[2],
                d = inout(reg) acc[3],
                options(nostack, readonly),
            );
        }
        let offset = 128 * sum_x;
        acc[0] -= offset;
        acc[2] -= offset;
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

/// [`quad_dot_packed`] as one Thumb-2 loop for the Cortex-M3 (ARMv7-M without DSP; stable Rust has
/// no `thumb2` cfg, and `target_has_atomic = "32"` is what tells ARMv7-M from the M0+'s ARMv6-M,
/// which has no `SMLAL`). Per input pair: `LDRD` the two inputs, and per weight word `LDR`, `AND`
/// with the mask, `SMLAL`, `AND ... ROR #16`, `SMLAL`, two pairs per iteration: 12 instructions per
/// 8 MACs, loop included.
#[cfg(all(
    target_arch = "arm",
    target_has_atomic = "32",
    not(any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf")))
))]
#[inline(always)]
pub fn quad_dot_smlal(x: &[i32], w: &[u8], sum_x: i32) -> [i32; 4] {
    use core::arch::asm;
    let pairs = (x.len() / 2).min(w.len() / QUAD_PAIR_BYTES);
    let (mut ab_lo, mut ab_hi, mut cd_lo, mut cd_hi) = (1u32 << 23, 0u32, 1u32 << 23, 0u32);
    if pairs > 0 {
        let xp = x.as_ptr();
        // SAFETY: the loop reads `x[..2 · pairs]` (word-aligned, as `LDRD` needs) and
        // `w[..8 · pairs]` (with `LDR`, which the M3 allows unaligned), both in bounds.
        unsafe {
            // Hand-written because LLVM rematerialises the mask (MOVW + MOVT) before every AND
            // and spills the accumulators: 2.8 instructions per MAC instead of 1.5.
            asm!(
                // Two pairs per iteration; an odd count enters at the second.
                "cmp {t}, #0",
                "bne 3f",
                "2:",
                "ldrd {x0}, {x1}, [{xp}], #8",
                "ldr {w}, [{wp}], #4",
                "and {t}, {mask}, {w}",
                "smlal {ab_lo}, {ab_hi}, {t}, {x0}",
                "and {w}, {mask}, {w}, ror #16",
                "smlal {ab_lo}, {ab_hi}, {w}, {x1}",
                "ldr {w}, [{wp}], #4",
                "and {t}, {mask}, {w}",
                "smlal {cd_lo}, {cd_hi}, {t}, {x0}",
                "and {w}, {mask}, {w}, ror #16",
                "smlal {cd_lo}, {cd_hi}, {w}, {x1}",
                "3:",
                "ldrd {x0}, {x1}, [{xp}], #8",
                "ldr {w}, [{wp}], #4",
                "and {t}, {mask}, {w}",
                "smlal {ab_lo}, {ab_hi}, {t}, {x0}",
                "and {w}, {mask}, {w}, ror #16",
                "smlal {ab_lo}, {ab_hi}, {w}, {x1}",
                "ldr {w}, [{wp}], #4",
                "and {t}, {mask}, {w}",
                "smlal {cd_lo}, {cd_hi}, {t}, {x0}",
                "and {w}, {mask}, {w}, ror #16",
                "smlal {cd_lo}, {cd_hi}, {w}, {x1}",
                "cmp {xp}, {end}",
                "bne 2b",
                xp = inout(reg) xp => _,
                wp = inout(reg) w.as_ptr() => _,
                end = in(reg) xp.add(2 * pairs),
                mask = in(reg) QUAD_MASK,
                x0 = out(reg) _,
                x1 = out(reg) _,
                w = out(reg) _,
                t = inout(reg) pairs & 1 => _,
                ab_lo = inout(reg) ab_lo,
                ab_hi = inout(reg) ab_hi,
                cd_lo = inout(reg) cd_lo,
                cd_hi = inout(reg) cd_hi,
                options(nostack, readonly),
            );
        }
    }
    let (a, b) = unpack((((ab_hi as u64) << 32) | ab_lo as u64) as i64);
    let (c, d) = unpack((((cd_hi as u64) << 32) | cd_lo as u64) as i64);
    let offset = 128 * sum_x;
    [a - offset, b, c - offset, d]
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
    #[cfg(all(
        target_arch = "arm",
        any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
    ))]
    if cin.is_multiple_of(8)
        && cin > 0
        && cinp == cin / 2
        && !taps.is_empty()
        && sums.len() >= taps.len()
        && taps.len() * cinp <= xs.len()
        && taps
            .iter()
            .all(|&(_, from)| from <= x.len() && cin <= x.len() - from)
    {
        // SAFETY: reads `x[from..from + cin]` for every tap and `taps`, writes
        // `xs[..taps.len() · cinp]` (two words per four inputs, word-aligned for `STRD`) and
        // `sums[..taps.len()]`, all checked above; DSP instructions only where they exist.
        unsafe {
            core::arch::asm!(
                "1:",
                "ldr {src}, [{taps}, #4]",
                "adds {taps}, {taps}, #8",
                "add {src}, {src}, {xb}",
                "mov {n}, {c8}",
                "2:",
                "ldr {w}, [{src}], #4",
                "sxtb16 {o}, {w}, ror #8",
                "sxtb16 {w}, {w}",
                "sadd16 {s}, {s}, {w}",
                "sadd16 {s}, {s}, {o}",
                "pkhbt {p}, {w}, {o}, lsl #16",
                "pkhtb {o}, {o}, {w}, asr #16",
                "strd {p}, {o}, [{dst}], #8",
                "ldr {w}, [{src}], #4",
                "sxtb16 {o}, {w}, ror #8",
                "sxtb16 {w}, {w}",
                "sadd16 {s}, {s}, {w}",
                "sadd16 {s}, {s}, {o}",
                "pkhbt {p}, {w}, {o}, lsl #16",
                "pkhtb {o}, {o}, {w}, asr #16",
                "strd {p}, {o}, [{dst}], #8",
                "subs {n}, {n}, #1",
                "bne 2b",
                "str {s}, [{sums}], #4",
                "mov {s}, #0",
                "subs {nt}, {nt}, #1",
                "bne 1b",
                taps = inout(reg) taps.as_ptr() => _,
                nt = inout(reg) taps.len() => _,
                dst = inout(reg) xs.as_mut_ptr() => _,
                sums = inout(reg) sums.as_mut_ptr() => _,
                xb = in(reg) x.as_ptr(),
                c8 = in(reg) cin / 8,
                src = out(reg) _,
                n = out(reg) _,
                w = out(reg) _,
                o = out(reg) _,
                p = out(reg) _,
                s = inout(reg) 0u32 => _,
                options(nostack),
            );
        }
        // Each sum is two int16 halves (at most 64 · 256 in magnitude each).
        for s in &mut sums[..taps.len()] {
            *s = *s as i16 as i32 + (*s >> 16);
        }
        return;
    }
    for ((k, &(_, from)), sum) in taps.iter().enumerate().zip(sums.iter_mut()) {
        *sum = widen(&mut xs[k * cinp..(k + 1) * cinp], &x[from..from + cin]);
    }
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

/// The four dot products of each of `accs.len()` consecutive weight groups (group `k`'s weights
/// at `w[k · group_bytes..]`) with the window `xs` (in the kernel's form) over the segments
/// `segs`, plus group `k`'s four int32 biases (little-endian, `bias[16 · k..16 · k + 16]`),
/// written to `accs[k]`.
#[inline(always)]
pub(crate) fn quad_dot_groups(
    accs: &mut [[i32; 4]],
    xs: &[i32],
    segs: &[Segment],
    w: &[u8],
    group_bytes: usize,
    bias: &[u8],
) {
    #[cfg(all(
        target_arch = "arm",
        any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
    ))]
    if quad_dot_groups_dsp(accs, xs, segs, w, group_bytes, bias) {
        return;
    }
    for ((acc, w), b) in accs
        .iter_mut()
        .zip(w.chunks_exact(group_bytes))
        .zip(bias.chunks_exact(16))
    {
        *acc = core::array::from_fn(|j| {
            i32::from_le_bytes([b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]])
        });
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

/// What [`quad_dot_groups_dsp`]'s asm reads and updates.
#[cfg(all(
    target_arch = "arm",
    any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
))]
#[repr(C)]
struct GroupsArgs {
    xs: *const i32,
    segs: *const Segment,
    nsegs: usize,
    w: *const u8,
    group_bytes: usize,
    groups: usize,
    accs: *mut [i32; 4],
    seg_at: *const Segment,
    segs_left: usize,
    bias: *const i32,
    offset: i32,
}

/// [`quad_dot_groups`] as one asm routine (all registers its own: r4–r11 and lr saved): per
/// group, the accumulators from the biases (less `128 · Σx` for the offset weights), per segment,
/// the pair loop of [`quad_dot_acc`] with `LDM` of four weight words (18
/// instructions per 16 MACs, sixteen pairs per iteration), the four sums stored with one `STM`.
/// Returns false (and does nothing) when the weights are not word-aligned or a segment is out of
/// bounds.
#[cfg(all(
    target_arch = "arm",
    any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
))]
#[inline(always)]
fn quad_dot_groups_dsp(
    accs: &mut [[i32; 4]],
    xs: &[i32],
    segs: &[Segment],
    w: &[u8],
    group_bytes: usize,
    bias: &[u8],
) -> bool {
    let groups = accs.len();
    let ok = (w.as_ptr() as usize | group_bytes | bias.as_ptr() as usize) & 3 == 0
        && !segs.is_empty()
        && groups > 0
        && w.len() / group_bytes.max(1) >= groups
        && bias.len() / 16 >= groups
        && segs.iter().all(|s| {
            s.start <= s.end
                && s.end <= xs.len()
                && s.w_offset & 3 == 0
                && s.w_offset <= group_bytes
                && (s.end - s.start) <= (group_bytes - s.w_offset) / QUAD_PAIR_BYTES
        });
    if !ok {
        return false;
    }
    let mut args = GroupsArgs {
        xs: xs.as_ptr(),
        segs: segs.as_ptr(),
        nsegs: segs.len(),
        w: w.as_ptr(),
        group_bytes,
        groups,
        accs: accs.as_mut_ptr(),
        seg_at: segs.as_ptr(),
        segs_left: 0,
        bias: bias.as_ptr().cast(),
        offset: 128 * segs.iter().map(|s| s.sum).sum::<i32>(),
    };
    // SAFETY: the asm reads `xs[s.start..s.end]` and `w[k · group_bytes + s.w_offset..][..8 ·
    // (s.end - s.start)]` for every segment `s` and group `k < groups` (checked above, weights
    // word-aligned for `LDM`/`LDRD`) and `bias[..16 · groups]` (word-aligned for `LDM`), writes
    // `accs[..groups]` and `args`, and restores every
    // register it uses but r0–r3 and r12 (declared clobbered).
    unsafe {
        core::arch::asm!(
                "push {{r4-r11, lr}}",
            "push {{r0}}",
            "1:",
            "ldr r6, [sp]",
            "ldr r5, [r6, #36]",
            "ldm r5!, {{r10, r11, r12, lr}}",
            "str r5, [r6, #36]",
            "ldr r5, [r6, #40]",
            "sub r10, r10, r5",
            "sub r12, r12, r5",
            "ldr r5, [r6, #4]",
            "ldr r9, [r6, #8]",
            "str r5, [r6, #28]",
            "str r9, [r6, #32]",
            "2:",
            "ldr r6, [sp]",
            "ldr r5, [r6, #28]",
            "ldm r5, {{r0, r2, r3}}",
            "add r5, r5, #16",
            "str r5, [r6, #28]",
            "sub r2, r2, r0",
            "ldr r4, [r6]",
            "add r0, r4, r0, lsl #2",
            "ldr r1, [r6, #12]",
            "add r1, r1, r3",
            // A multiple of 16 pairs (the usual case): straight to the loop.
            "tst r2, #15",
            "beq 9f",
            "lsrs r2, r2, #1",
            "bcc 3f",
            "ldr r3, [r0], #4",
            "ldrd r6, r7, [r1], #8",
            "uxtb16 r5, r6",
            "sxtb16 r6, r6, ror #8",
            "smlad r10, r3, r5, r10",
            "smladx r11, r3, r6, r11",
            "uxtb16 r5, r7",
            "sxtb16 r7, r7, ror #8",
            "smlad r12, r3, r5, r12",
            "smladx lr, r3, r7, lr",
            "3:",
            "lsrs r2, r2, #1",
            "bcc 4f",
            dsp_two_pairs!(),
            "4:",
            "lsrs r2, r2, #1",
            "bcc 5f",
            dsp_two_pairs!(),
            dsp_two_pairs!(),
            "5:",
            "lsrs r2, r2, #1",
            "bcc 8f",
            dsp_two_pairs!(),
            dsp_two_pairs!(),
            dsp_two_pairs!(),
            dsp_two_pairs!(),
            "b 8f",
            "9:",
            "lsrs r2, r2, #4",
            "8:",
            "beq 7f",
            "6:",
            dsp_two_pairs!(),
            dsp_two_pairs!(),
            dsp_two_pairs!(),
            dsp_two_pairs!(),
            dsp_two_pairs!(),
            dsp_two_pairs!(),
            dsp_two_pairs!(),
            dsp_two_pairs!(),
            "subs r2, r2, #1",
            "bne 6b",
            "7:",
            "ldr r6, [sp]",
            "ldr r5, [r6, #32]",
            "subs r5, r5, #1",
            "str r5, [r6, #32]",
            "bne 2b",
            "ldr r5, [r6, #24]",
            "stm r5!, {{r10, r11, r12, lr}}",
            "str r5, [r6, #24]",
            "ldr r5, [r6, #12]",
            "ldr r4, [r6, #16]",
            "add r5, r5, r4",
            "str r5, [r6, #12]",
            "ldr r5, [r6, #20]",
            "subs r5, r5, #1",
            "str r5, [r6, #20]",
            "bne 1b",
            "pop {{r0}}",
            "pop {{r4-r11, lr}}",
            inout("r0") &mut args as *mut GroupsArgs => _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r12") _,
        );
    }
    true
}

/// [`quad_dot`] on x86-64 with SSE2 (part of the x86-64 baseline, so always available): per 16
/// weight bytes (two input pairs × four values), undo the `^ 0x80`, sign-extend to int16, reorder
/// each word's lanes from `(a i0, b i1, a i1, b i0)` to `(a i0, a i1, b i0, b i1)`, and `PMADDWD`
/// with the input pair repeated: eight MACs per instruction into the four int32 sums.
#[cfg(target_arch = "x86_64")]
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

/// [`quad_dot`] on the DSP extension (Cortex-M4/M7; selected by `target_feature = "dsp"` on nightly,
/// or by the crate feature `dsp` on a hard-float Cortex-M target): per word, `UXTB16` gives the `a` weights
/// `(w(a,i0) + 128, w(a,i1) + 128)` and `SXTB16 ROR 8` the `b` weights `(w(b,i1), w(b,i0))` as
/// int16 pairs; `SMLAD`/`SMLADX` with the input pair `(x0, x1)` do two MACs each: 12 instructions
/// per 8 MACs, two pairs per iteration.
#[cfg(all(
    target_arch = "arm",
    any(target_feature = "dsp", all(feature = "dsp", target_abi = "eabihf"))
))]
#[inline(always)]
pub fn quad_dot_dsp(x: &[i32], w: &[u8], sum_x: i32) -> [i32; 4] {
    use core::arch::asm;
    let pairs = (x.len() / 2).min(w.len() / QUAD_PAIR_BYTES);
    let mut acc = [0i32; 4];
    if pairs > 0 {
        let xp = x.as_ptr();
        // SAFETY: the loop reads `x[..2 · pairs]` (word-aligned, as `LDRD` needs) and
        // `w[..8 · pairs]` (with `LDR`, which the M4 allows unaligned), both in bounds; the DSP
        // instructions exist with the `dsp` extension this function is compiled for.
        unsafe {
            // One loop in asm, like the M3's: `PKHBT` packs the input pair into int16 halves,
            // `UXTB16`/`SXTB16 ROR #8` unpack a weight word, `SMLAD`/`SMLADX` do two MACs each.
            asm!(
                // Two pairs per iteration; an odd count enters at the second.
                "cmp {t}, #0",
                "bne 3f",
                "2:",
                "ldrd {xx}, {t}, [{xp}], #8",
                "pkhbt {xx}, {xx}, {t}, lsl #16",
                "ldr {w}, [{wp}], #4",
                "uxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {a}, {xx}, {t}, {a}",
                "smladx {b}, {xx}, {w}, {b}",
                "ldr {w}, [{wp}], #4",
                "uxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {c}, {xx}, {t}, {c}",
                "smladx {d}, {xx}, {w}, {d}",
                "3:",
                "ldrd {xx}, {t}, [{xp}], #8",
                "pkhbt {xx}, {xx}, {t}, lsl #16",
                "ldr {w}, [{wp}], #4",
                "uxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {a}, {xx}, {t}, {a}",
                "smladx {b}, {xx}, {w}, {b}",
                "ldr {w}, [{wp}], #4",
                "uxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {c}, {xx}, {t}, {c}",
                "smladx {d}, {xx}, {w}, {d}",
                "cmp {xp}, {end}",
                "bne 2b",
                xp = inout(reg) xp => _,
                wp = inout(reg) w.as_ptr() => _,
                end = in(reg) xp.add(2 * pairs),
                xx = out(reg) _,
                w = out(reg) _,
                t = inout(reg) pairs & 1 => _,
                a = inout(reg) acc[0],
                b = inout(reg) acc[1],
                c = inout(reg) acc[2],
                d = inout(reg) acc[3],
                options(nostack, readonly),
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
            #[cfg(target_arch = "x86_64")]
            assert_eq!(quad_dot_sse2(&x, &w), want, "sse2, case {case}");
        }
    }
}

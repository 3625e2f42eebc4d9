//! The Cortex-M4/M7 DSP path (`SXTB16`/`UXTB16` + `SMLAD`), compiled only with the DSP extension
//! (`target_feature = "dsp"`, or this crate's `dsp` feature on a hard-float Cortex-M target; the
//! `cfg` is on `mod dsp` in `kernel/mod.rs`): the window buffer's form (one packed int16 pair per
//! slot: [`widen`], [`widen_taps`]), [`quad_dot_acc`], the batched routine
//! [`quad_dot_groups_dsp`] and [`quad_dot_dsp`].

use super::{GroupWeights, Segment};
use crate::format::{QUAD_PAIR_BYTES, WIDE_PER_QUAD};

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

/// Input pair `p` of a window buffer in this form: the two int16 halves of slot `p`.
#[inline(always)]
pub(crate) fn input_pair(xs: &[i32], p: usize) -> (i32, i32) {
    (xs[p] as i16 as i32, xs[p] >> 16)
}

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

/// Converts each tap's inputs `x[from..from + cin]` (`taps[k] = (tap, from)`) into the window
/// buffer at slot `k · cinp` (see [`widen`]) and writes their sums to `sums[k]`: when `cin` is a
/// non-zero multiple of 8 (and everything is in bounds) one asm routine, per four inputs one
/// `LDR`, `SXTB16` and `SXTB16 ROR 8`, `PKHBT`/`PKHTB` into two packed pairs (one `STRD`), the
/// tap's sum in the two `SADD16` halves; [`widen`] per tap otherwise.
#[inline(always)]
pub(crate) fn widen_taps(
    xs: &mut [i32],
    x: &[i8],
    taps: &[(usize, usize)],
    cin: usize,
    cinp: usize,
    sums: &mut [i32],
) {
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

/// One input pair (the packed int16 pair in register `{$x}`) times the group's two weight words
/// (`LDRD` from `{wp}`): `UXTB16` + `SXTB16 ROR 8` + `SMLAD`/`SMLADX` per word, 9 instructions
/// for 8 MACs.
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
macro_rules! dsp_two_pairs {
    () => {
        concat!(
            "ldrd r3, r4, [r0], #8\n",
            "ldm r1!, {{r6, r7, r8, r9}}\n",
            quad_pair!("r3", "r6", "r7"),
            quad_pair!("r4", "r8", "r9"),
        )
    };
}

/// One input pair (register `$x`) against two weight words (registers `$w0`, `$w1`, unpacked in
/// place; `r5` scratch) into the accumulators `r10`, `r11`, `r12`, `lr`: 8 MACs, 8 instructions.
macro_rules! quad_pair {
    ($x:literal, $w0:literal, $w1:literal) => {
        concat!(
            "uxtb16 r5, ", $w0, "\n",
            "sxtb16 ", $w0, ", ", $w0, ", ror #8\n",
            "smlad r10, ", $x, ", r5, r10\n",
            "smladx r11, ", $x, ", ", $w0, ", r11\n",
            "uxtb16 r5, ", $w1, "\n",
            "sxtb16 ", $w1, ", ", $w1, ", ror #8\n",
            "smlad r12, ", $x, ", r5, r12\n",
            "smladx lr, ", $x, ", ", $w1, ", lr\n",
        )
    };
}

/// Adds [`quad_dot`](super::quad_dot) of inputs in the window buffer's form to `acc`: `x` holds
/// packed int16 pairs `(x0, x1)` ([`widen`]). Per two pairs: `LDRD` the two input words, two
/// `LDRD`s the four weight words, and per weight word `UXTB16` + `SXTB16 ROR 8` + `SMLAD` +
/// `SMLADX`; eight pairs per iteration: 78 instructions per 64 MACs, loop included (LLVM leaves no
/// four registers in ascending order free for one `LDM`).
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

/// One input pair (`r3`, from `[r0]`) against the four wide weight words (`r5`–`r8`, from
/// `[r1]`): 8 MACs, one `SMLAD` per output value, nothing to unpack (the wide routine).
macro_rules! wide_pair {
    ($x:literal) => {
        concat!(
            "ldm r1!, {{r5, r6, r7, r8}}\n",
            "smlad r10, ", $x, ", r5, r10\n",
            "smlad r11, ", $x, ", r6, r11\n",
            "smlad r12, ", $x, ", r7, r12\n",
            "smlad lr, ", $x, ", r8, lr\n",
        )
    };
}

/// Two input pairs (`r3`, `r4`) against eight wide weight words: 16 MACs in 11 instructions.
macro_rules! wide_two_pairs {
    () => {
        concat!("ldrd r3, r4, [r0], #8\n", wide_pair!("r3"), wide_pair!("r4"))
    };
}

/// One input pair of the int8 routine (`r3`, from `[r0]`): two weight words, unpacked.
macro_rules! quad_one_pair {
    () => {
        concat!(
            "ldr r3, [r0], #4\n",
            "ldrd r6, r7, [r1], #8\n",
            quad_pair!("r3", "r6", "r7"),
        )
    };
}

/// The batched routine's asm (see [`quad_dot_groups_dsp`]), one template for both weight forms:
/// `$offset` adjusts the accumulators after the biases are loaded (`r5` is free), `$w_offset`
/// adds a segment's weight offset `r3` (int8 bytes) to the weight pointer `r1`, `$one` and
/// `$two` are the one-pair and two-pair steps.
macro_rules! groups_asm {
    ($offset:expr, $w_offset:literal, $one:expr, $two:expr) => {
        concat!(
            "push {{r4-r11, lr}}\n",
            "push {{r0}}\n",
            // Per group: the accumulators from the biases.
            "1:\n",
            "ldr r6, [sp]\n",
            "ldr r5, [r6, #36]\n",
            "ldm r5!, {{r10, r11, r12, lr}}\n",
            "str r5, [r6, #36]\n",
            $offset,
            "ldr r5, [r6, #4]\n",
            "ldr r9, [r6, #8]\n",
            "str r5, [r6, #28]\n",
            "str r9, [r6, #32]\n",
            // Per segment: `r0` its inputs, `r1` its weights, `r2` its pairs.
            "2:\n",
            "ldr r6, [sp]\n",
            "ldr r5, [r6, #28]\n",
            "ldm r5, {{r0, r2, r3}}\n",
            "add r5, r5, #16\n",
            "str r5, [r6, #28]\n",
            "sub r2, r2, r0\n",
            "ldr r4, [r6]\n",
            "add r0, r4, r0, lsl #2\n",
            "ldr r1, [r6, #12]\n",
            $w_offset,
            // A multiple of 16 pairs (the usual case): straight to the loop.
            "tst r2, #15\n",
            "beq 9f\n",
            "lsrs r2, r2, #1\n",
            "bcc 3f\n",
            $one,
            "3:\n",
            "lsrs r2, r2, #1\n",
            "bcc 4f\n",
            $two,
            "4:\n",
            "lsrs r2, r2, #1\n",
            "bcc 5f\n",
            $two, $two,
            "5:\n",
            "lsrs r2, r2, #1\n",
            "bcc 8f\n",
            $two, $two, $two, $two,
            "b 8f\n",
            "9:\n",
            "lsrs r2, r2, #4\n",
            "8:\n",
            "beq 7f\n",
            "6:\n",
            $two, $two, $two, $two, $two, $two, $two, $two,
            "subs r2, r2, #1\n",
            "bne 6b\n",
            "7:\n",
            "ldr r6, [sp]\n",
            "ldr r5, [r6, #32]\n",
            "subs r5, r5, #1\n",
            "str r5, [r6, #32]\n",
            "bne 2b\n",
            // The group's four sums, then the next group's weights.
            "ldr r5, [r6, #24]\n",
            "stm r5!, {{r10, r11, r12, lr}}\n",
            "str r5, [r6, #24]\n",
            "ldr r5, [r6, #12]\n",
            "ldr r4, [r6, #16]\n",
            "add r5, r5, r4\n",
            "str r5, [r6, #12]\n",
            "ldr r5, [r6, #20]\n",
            "subs r5, r5, #1\n",
            "str r5, [r6, #20]\n",
            "bne 1b\n",
            "pop {{r0}}\n",
            "pop {{r4-r11, lr}}\n",
        )
    };
}

/// What [`quad_dot_groups_dsp`]'s asm reads and updates.
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

impl GroupsArgs {
    /// The routine's arguments, or `None` when the weights (`w_bytes` bytes at `w`, `scale` bytes
    /// per int8-layout byte) are not word-aligned or a segment is out of bounds.
    fn new(
        accs: &mut [[i32; 4]],
        xs: &[i32],
        segs: &[Segment],
        (w, w_bytes, scale): (*const u8, usize, usize),
        group_bytes: usize,
        bias: &[u8],
    ) -> Option<Self> {
        let groups = accs.len();
        let ok = (w as usize | group_bytes | bias.as_ptr() as usize) & 3 == 0
            && !segs.is_empty()
            && groups > 0
            && w_bytes / (scale * group_bytes).max(1) >= groups
            && bias.len() / 16 >= groups
            && segs.iter().all(|s| {
                s.start <= s.end
                    && s.end <= xs.len()
                    && s.w_offset & 3 == 0
                    && s.w_offset <= group_bytes
                    && (s.end - s.start) <= (group_bytes - s.w_offset) / QUAD_PAIR_BYTES
            });
        ok.then(|| Self {
            xs: xs.as_ptr(),
            segs: segs.as_ptr(),
            nsegs: segs.len(),
            w,
            group_bytes: scale * group_bytes,
            groups,
            accs: accs.as_mut_ptr(),
            seg_at: segs.as_ptr(),
            segs_left: 0,
            bias: bias.as_ptr().cast(),
            offset: 128 * segs.iter().map(|s| s.sum).sum::<i32>(),
        })
    }
}

/// `asm!` of one [`groups_asm!`] template with the routine's operands: `r0` points at the
/// [`GroupsArgs`], r1–r3 and r12 are clobbered (the routine saves and restores the rest).
macro_rules! groups_call {
    ($args:expr, $template:expr) => {
        core::arch::asm!(
            $template,
            inout("r0") $args => _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r12") _,
        )
    };
}

/// [`quad_dot_groups`](super::quad_dot_groups) as one asm routine (all registers its own: r4–r11
/// and lr saved): per group, the accumulators from the biases, per segment, sixteen input pairs
/// per iteration, the four sums stored with one `STM`. On int8 weights the pair loop of
/// [`quad_dot_acc`] with `LDM` of four weight words (18 instructions per 16 MACs) and `128 · Σx`
/// taken off the offset weights' sums; on wide weights ([`crate::format::widen_quad_word`]) one
/// `LDM` of four words and four `SMLAD`s per input pair, 11 instructions per 16 MACs, nothing to
/// take off. Returns false (and does nothing) when the weights are not word-aligned or a segment
/// is out of bounds.
#[inline(always)]
pub(super) fn quad_dot_groups_dsp(
    accs: &mut [[i32; 4]],
    xs: &[i32],
    segs: &[Segment],
    weights: GroupWeights<'_>,
    group_bytes: usize,
    bias: &[u8],
) -> bool {
    let w = match weights {
        GroupWeights::Quad(w) => (w.as_ptr(), w.len(), 1),
        GroupWeights::Wide(w) => (w.as_ptr().cast::<u8>(), 4 * w.len(), WIDE_PER_QUAD),
    };
    let Some(mut args) = GroupsArgs::new(accs, xs, segs, w, group_bytes, bias) else {
        return false;
    };
    let args = &mut args as *mut GroupsArgs;
    // SAFETY: the asm reads `xs[s.start..s.end]` and the weights `w[k · group_bytes +
    // s.w_offset..][..8 · (s.end - s.start)]` (every offset and length doubled for wide weights)
    // for every segment `s` and group `k < groups`, and `bias[..16 · groups]`, all checked by
    // `GroupsArgs::new` (weights and biases word-aligned for `LDM`/`LDRD`); it writes
    // `accs[..groups]` and `args`, and restores every register it uses but r0–r3 and r12
    // (declared clobbered).
    unsafe {
        match weights {
            GroupWeights::Quad(_) => groups_call!(
                args,
                groups_asm!(
                    "ldr r5, [r6, #40]\nsub r10, r10, r5\nsub r12, r12, r5\n",
                    "add r1, r1, r3\n",
                    quad_one_pair!(),
                    dsp_two_pairs!()
                )
            ),
            GroupWeights::Wide(_) => groups_call!(
                args,
                groups_asm!(
                    "",
                    "add r1, r1, r3, lsl #1\n",
                    concat!("ldr r3, [r0], #4\n", wide_pair!("r3")),
                    wide_two_pairs!()
                )
            ),
        }
    }
    true
}

/// [`quad_dot`](super::quad_dot) on the DSP extension (Cortex-M4/M7; selected by
/// `target_feature = "dsp"` on nightly, or by the crate feature `dsp` on a hard-float Cortex-M
/// target): per word, `UXTB16` gives the `a` weights `(w(a,i0) + 128, w(a,i1) + 128)` and
/// `SXTB16 ROR 8` the `b` weights `(w(b,i1), w(b,i0))` as int16 pairs; `SMLAD`/`SMLADX` with the
/// input pair `(x0, x1)` do two MACs each: 12 instructions per 8 MACs, two pairs per iteration.
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

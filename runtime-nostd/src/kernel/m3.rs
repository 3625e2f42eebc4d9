//! The Cortex-M3 kernel (ARMv7-M without DSP): [`quad_dot_smlal`], the portable kernel's packed
//! accumulators as one hand-written Thumb-2 `SMLAL` loop. Compiled for that target only (the
//! `cfg` is on `mod m3` in `kernel/mod.rs`).

use super::unpack;
use crate::format::{QUAD_MASK, QUAD_PAIR_BYTES};

/// [`quad_dot_packed`](super::quad_dot_packed) as one Thumb-2 loop for the Cortex-M3 (ARMv7-M
/// without DSP; stable Rust has no `thumb2` cfg, and `target_has_atomic = "32"` is what tells
/// ARMv7-M from the M0+'s ARMv6-M, which has no `SMLAL`). Per input pair: `LDRD` the two inputs,
/// and per weight word `LDR`, `AND` with the mask, `SMLAL`, `AND ... ROR #16`, `SMLAL`, two pairs
/// per iteration: 12 instructions per 8 MACs, loop included.
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

//! The int8 forward pass of one validated layer: windows of input pixels, segments, the
//! quad-layout kernel, and the epilogue that writes each output.

use crate::format::{Activation, LayerKind, MAX_TAPS, QUAD, QUAD_PAIR_BYTES, WeightGeometry};
use crate::kernel::{MAX_CHUNK, PAIR_SLOTS, quad_dot_acc, widen};

/// One validated fused layer, its tensors borrowed from the blob.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layer<'a> {
    pub(crate) kind: LayerKind,
    pub(crate) act: Activation,
    pub(crate) alpha: f32,
    pub(crate) in_shape: [usize; 3],
    pub(crate) out_shape: [usize; 3],
    pub(crate) stride: usize,
    pub(crate) padding: usize,
    pub(crate) taps: usize,
    pub(crate) geom: WeightGeometry,
    pub(crate) weight: &'a [u8],
    pub(crate) bias: &'a [u8],
    pub(crate) requant: &'a [i8],
}

impl Layer<'_> {
    pub(crate) fn in_len(&self) -> usize {
        self.in_shape[0] * self.in_shape[1] * self.in_shape[2]
    }
    pub(crate) fn out_len(&self) -> usize {
        self.out_shape[0] * self.out_shape[1] * self.out_shape[2]
    }
}

pub(crate) fn as_i8(b: &[u8]) -> &[i8] {
    // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is valid for both.
    unsafe { core::slice::from_raw_parts(b.as_ptr().cast::<i8>(), b.len()) }
}

pub(crate) fn i32_at(b: &[u8], i: usize) -> i32 {
    let c = &b[4 * i..4 * i + 4];
    i32::from_le_bytes([c[0], c[1], c[2], c[3]])
}

/// Most slots (`i32`: one input, or one packed int16 pair for the DSP kernel, see
/// [`PAIR_SLOTS`]) of one window the fast path holds on the stack; a larger window is
/// processed segment by segment, converting its inputs again for every weight group. 128 (512 B)
/// on a microcontroller (enough for `tiny`'s windows); 1024 (4 KB) elsewhere, which holds every
/// preset's windows. Tests use 128 everywhere, so both paths are tested on the host.
#[cfg(any(test, target_os = "none"))]
const XS_MAX: usize = 128;
#[cfg(not(any(test, target_os = "none")))]
const XS_MAX: usize = 1024;

/// One contiguous run of a window: input slots `xs[start..end]`, the group's weights from byte
/// `w_offset`, and `Σ xs[start..end]`.
#[derive(Clone, Copy, Default)]
struct Segment {
    start: usize,
    end: usize,
    w_offset: usize,
    sum: i32,
}

/// Runs one validated layer; `epilogue(acc, requant_exp)` turns each accumulator (bias included)
/// into an output. Not inlined: one stack frame (window buffer) at a time, whichever layer runs.
#[inline(never)]
pub(crate) fn run_layer<T>(
    l: &Layer<'_>,
    x: &[i8],
    bias: &[u8],
    out: &mut [T],
    epilogue: impl Fn(i32, i32) -> T,
) {
    let g = l.geom;
    let cin = g.cin;
    let pairs_bytes = g.pairs() * QUAD_PAIR_BYTES;
    let (cout, s, p, t) = match l.kind {
        LayerKind::Dense => (g.values, 1, 0, 1),
        LayerKind::ConvTranspose => (l.out_shape[0], l.stride, l.padding, l.taps),
    };
    let [_, ih, iw] = l.in_shape;
    let [_, oh, ow] = l.out_shape;
    let (nby, nbx) = match l.kind {
        LayerKind::Dense => (1, 1),
        LayerKind::ConvTranspose => ((oh - 1 + p) / s + 1, (ow - 1 + p) / s + 1),
    };
    let mut xs = [0i32; XS_MAX];
    // Per window (zeroed once here, not per window: only the entries a window writes are read).
    let mut taps = [(0usize, 0usize); MAX_TAPS * MAX_TAPS];
    let mut segs = [Segment::default(); MAX_TAPS * MAX_TAPS];
    for by in 0..nby {
        for bx in 0..nbx {
            // The window: valid taps, in tap order, each a contiguous run of `cin` inputs.
            let mut ntaps = 0;
            for ty in 0..t {
                let Some(iy) = by.checked_sub(ty).filter(|&iy| iy < ih) else {
                    continue;
                };
                for tx in 0..t {
                    let Some(ix) = bx.checked_sub(tx).filter(|&ix| ix < iw) else {
                        continue;
                    };
                    taps[ntaps] = (ty * t + tx, (iy * iw + ix) * cin);
                    ntaps += 1;
                }
            }
            let taps = &taps[..ntaps];
            // Slots per tap.
            let cinp = g.pairs() * PAIR_SLOTS;
            let fits = ntaps * cinp <= XS_MAX;
            // Segments: one per valid tap, merged when taps and weights are both consecutive.
            let mut nsegs = 0;
            if fits {
                let mut at = 0;
                for &(tap, from) in taps {
                    let sum = widen(&mut xs[at..at + cinp], &x[from..from + cin]);
                    let w_offset = tap * pairs_bytes;
                    match segs[..nsegs].last_mut() {
                        Some(last)
                            if last.end == at
                                && last.w_offset
                                    + (last.end - last.start) / PAIR_SLOTS * QUAD_PAIR_BYTES
                                    == w_offset
                                && (last.end - last.start + cinp) / PAIR_SLOTS * 2 <= MAX_CHUNK =>
                        {
                            last.end += cinp;
                            last.sum += sum;
                        }
                        _ => {
                            segs[nsegs] = Segment {
                                start: at,
                                end: at + cinp,
                                w_offset,
                                sum,
                            };
                            nsegs += 1;
                        }
                    }
                    at += cinp;
                }
            }
            // Phase `(py, px)` and channel `o` of the next value `v`, stepped along with `v`
            // (no division per value).
            let (mut py, mut px, mut o) = (0, 0, 0);
            let step = |py: &mut usize, px: &mut usize, o: &mut usize, n: usize| {
                *o += n;
                if *o == cout {
                    *o = 0;
                    *px += 1;
                    if *px == s {
                        *px = 0;
                        *py += 1;
                    }
                }
            };
            // The group's four dot products added to `acc`.
            let mut dot = |w: &[u8], acc: &mut [i32; QUAD]| {
                if fits {
                    for seg in &segs[..nsegs] {
                        let n = seg.end - seg.start;
                        quad_dot_acc(
                            acc,
                            &xs[seg.start..seg.end],
                            &w[seg.w_offset..seg.w_offset + n / PAIR_SLOTS * QUAD_PAIR_BYTES],
                            seg.sum,
                        );
                    }
                } else {
                    for &(tap, from) in taps {
                        let wt = &w[tap * pairs_bytes..(tap + 1) * pairs_bytes];
                        let mut i = 0;
                        while i < cin {
                            // `n` inputs (even unless the last), `np` pairs.
                            let n = (cin - i).min(XS_MAX / PAIR_SLOTS * 2);
                            let sum = widen(&mut xs, &x[from + i..from + i + n]);
                            let np = n.div_ceil(2);
                            quad_dot_acc(
                                acc,
                                &xs[..np * PAIR_SLOTS],
                                &wt[i / 2 * QUAD_PAIR_BYTES..(i / 2 + np) * QUAD_PAIR_BYTES],
                                sum,
                            );
                            i += n;
                        }
                    }
                }
            };
            let groups = l.weight.chunks_exact(g.group_bytes()).take(g.groups());
            if cout.is_multiple_of(QUAD) {
                // Every preset: a group is four consecutive channels of one phase, one position
                // check per group, the accumulators start at the biases.
                for w in groups {
                    let (oy, ox) = (by * s + py, bx * s + px);
                    let inside = oy >= p && ox >= p && oy - p < oh && ox - p < ow;
                    let o0 = o;
                    step(&mut py, &mut px, &mut o, QUAD);
                    if !inside {
                        continue;
                    }
                    let d = ((oy - p) * ow + (ox - p)) * cout + o0;
                    let b = &bias[4 * o0..4 * (o0 + QUAD)];
                    let mut acc = [i32_at(b, 0), i32_at(b, 1), i32_at(b, 2), i32_at(b, 3)];
                    dot(w, &mut acc);
                    // Four consecutive outputs and channels: one bounds check each.
                    let out = &mut out[d..d + QUAD];
                    let exps = &l.requant[o0..o0 + QUAD];
                    for ((y, &e), a) in out.iter_mut().zip(exps).zip(acc) {
                        *y = epilogue(a, e as i32);
                    }
                }
            } else {
                for (group, w) in groups.enumerate() {
                    // Output positions (and channels) of the group's four values; skip the
                    // group if none is inside.
                    let mut dst = [usize::MAX; QUAD];
                    let mut chan = [0usize; QUAD];
                    for (j, (d, c)) in dst.iter_mut().zip(&mut chan).enumerate() {
                        if group * QUAD + j >= g.values {
                            break;
                        }
                        *c = o;
                        let (oy, ox) = (by * s + py, bx * s + px);
                        if oy >= p && ox >= p && oy - p < oh && ox - p < ow {
                            *d = ((oy - p) * ow + (ox - p)) * cout + o;
                        }
                        step(&mut py, &mut px, &mut o, 1);
                    }
                    if dst.iter().all(|&d| d == usize::MAX) {
                        continue;
                    }
                    let mut acc = [0i32; QUAD];
                    dot(w, &mut acc);
                    for ((&d, &o), &a) in dst.iter().zip(&chan).zip(&acc) {
                        if d != usize::MAX {
                            out[d] = epilogue(i32_at(bias, o) + a, l.requant[o] as i32);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

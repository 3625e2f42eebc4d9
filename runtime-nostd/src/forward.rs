//! The int8 forward pass of one validated layer: windows of input pixels, segments, the
//! quad-layout kernel, and the epilogue that writes each output.

use crate::format::{
    Activation, LayerKind, MAX_TAPS, QUAD, QUAD_PAIR_BYTES, WIDE_PER_QUAD, WeightGeometry,
};
use crate::kernel::{
    GroupWeights, MAX_CHUNK, PAIR_SLOTS, Segment, quad_dot_acc, quad_dot_groups, widen, widen_taps,
};

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
    /// The weights in the wide layout ([`crate::format::widen_quad_word`]), checked against
    /// `weight`; empty when the model has none.
    pub(crate) wide: &'a [u32],
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
    /// The weights of `groups` for the kernel: their wide words when the model has them, else
    /// `quad` (the same groups' quad-layout bytes).
    fn group_weights<'w>(
        &'w self,
        quad: &'w [u8],
        groups: core::ops::Range<usize>,
    ) -> GroupWeights<'w> {
        let words = self.geom.group_bytes() * WIDE_PER_QUAD / 4;
        match self.wide.get(groups.start * words..groups.end * words) {
            Some(wide) => GroupWeights::Wide(wide),
            None => GroupWeights::Quad(quad),
        }
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

/// Four zero biases, word-aligned (the DSP kernel loads biases with `LDM`).
#[repr(C, align(4))]
struct ZeroBias([u8; 16]);
static ZERO_BIAS: ZeroBias = ZeroBias([0; 16]);

/// Most weight groups of one kernel call ([`quad_dot_groups`]).
const BATCH: usize = 8;

/// A group's four dot products added to `acc` when the window does not fit in `xs`: tap by tap,
/// `XS_MAX` slots at a time, converting the inputs again for every group. Out of line: rare.
#[inline(never)]
fn dot_by_chunks(
    xs: &mut [i32; XS_MAX],
    x: &[i8],
    taps: &[(usize, usize)],
    w: &[u8],
    cin: usize,
    pairs_bytes: usize,
    acc: &mut [i32; QUAD],
) {
    for &(tap, from) in taps {
        let wt = &w[tap * pairs_bytes..(tap + 1) * pairs_bytes];
        let mut i = 0;
        while i < cin {
            // `n` inputs (even unless the last), `np` pairs.
            let n = (cin - i).min(XS_MAX / PAIR_SLOTS * 2);
            let sum = widen(xs, &x[from + i..from + i + n]);
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

/// How a layer's windows tile its output: output channels `cout`, stride `s`, padding `p`, `taps`
/// per side, and `nby × nbx` windows (a dense layer is one 1×1 window with stride 1).
pub(crate) struct WindowGrid {
    pub(crate) cout: usize,
    pub(crate) s: usize,
    pub(crate) p: usize,
    pub(crate) taps: usize,
    pub(crate) nby: usize,
    pub(crate) nbx: usize,
}

/// The window grid of layer `l` (the one place it is derived, for every layer loop).
#[inline(always)]
pub(crate) fn window_grid(l: &Layer<'_>) -> WindowGrid {
    let [_, oh, ow] = l.out_shape;
    match l.kind {
        LayerKind::Dense => WindowGrid {
            cout: l.geom.values,
            s: 1,
            p: 0,
            taps: 1,
            nby: 1,
            nbx: 1,
        },
        LayerKind::ConvTranspose => {
            let (s, p) = (l.stride, l.padding);
            WindowGrid {
                cout: l.out_shape[0],
                s,
                p,
                taps: l.taps,
                nby: (oh - 1 + p) / s + 1,
                nbx: (ow - 1 + p) / s + 1,
            }
        }
    }
}

/// Runs one validated layer; `epilogue(acc, requant_exp)` turns each accumulator (bias included)
/// into an output. Not inlined: one stack frame (window buffer) at a time, whichever layer runs.
/// On x86-64 the layer goes to the host's own loop (`forward/x86.rs`) when it takes it (wide
/// weights, or AVX2 at run time; an even number of input channels).
#[inline(never)]
pub(crate) fn run_layer<T>(
    l: &Layer<'_>,
    x: &[i8],
    bias: &[u8],
    out: &mut [T],
    epilogue: impl Fn(i32, i32) -> T,
) {
    #[cfg(target_arch = "x86_64")]
    {
        let level = crate::kernel::x86::level();
        if let Some(w) = x86::pick(level, l)
            && x86::run_layer_x86(level, w, l, x, bias, out, &epilogue)
        {
            return;
        }
    }
    let g = l.geom;
    let cin = g.cin;
    let pairs_bytes = g.pairs() * QUAD_PAIR_BYTES;
    let WindowGrid {
        cout,
        s,
        p,
        taps: t,
        nby,
        nbx,
    } = window_grid(l);
    let [_, ih, iw] = l.in_shape;
    let [_, oh, ow] = l.out_shape;
    let mut xs = [0i32; XS_MAX];
    // Per window (zeroed once here, not per window: only the entries a window writes are read).
    let mut taps = [(0usize, 0usize); MAX_TAPS * MAX_TAPS];
    let mut segs = [Segment::default(); MAX_TAPS * MAX_TAPS];
    let mut sums = [0i32; MAX_TAPS * MAX_TAPS];
    // The accumulators of up to BATCH groups from one kernel call.
    let mut accs = [[0i32; QUAD]; BATCH];
    // Groups that are not four channels of one phase (the last layer's): the first group's
    // values' output offsets from a window's first output pixel, and their channels, found once
    // per layer (used where every output of the window is inside the image).
    let mut first_group = [(0usize, 0usize); QUAD];
    if !cout.is_multiple_of(QUAD) {
        for (v, f) in first_group.iter_mut().enumerate() {
            let (phase, o) = (v / cout, v % cout);
            *f = (((phase / s) * ow + phase % s) * cout + o, o);
        }
    }
    // The first group's biases (its accumulators start there; other groups add theirs per
    // value).
    let mut first_bias = ZeroBias([0; 16]);
    if !cout.is_multiple_of(QUAD) {
        for (b, &(_, o)) in first_bias.0.chunks_exact_mut(4).zip(&first_group) {
            b.copy_from_slice(&bias[4 * o..4 * o + 4]);
        }
    }
    for by in 0..nby {
        for bx in 0..nbx {
            // The window: valid taps, in tap order, each a contiguous run of `cin` inputs.
            // Tap `(ty, tx)` reads input pixel `(by - ty, bx - tx)`: the valid ones are the
            // rectangle `ty0..ty1` × `tx0..tx1`.
            let (ty0, ty1) = ((by + 1).saturating_sub(ih), t.min(by + 1));
            let (tx0, tx1) = ((bx + 1).saturating_sub(iw), t.min(bx + 1));
            let mut ntaps = 0;
            for ty in ty0..ty1 {
                let row = (by - ty) * iw + bx;
                for tx in tx0..tx1 {
                    taps[ntaps] = (ty * t + tx, (row - tx) * cin);
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
                widen_taps(&mut xs, x, taps, cin, cinp, &mut sums);
                // The window buffer holds the taps one after another: a tap continues the
                // current segment when its weights follow the previous tap's.
                let mut cur = Segment::default();
                let mut next_tap = usize::MAX;
                for (k, (&(tap, _), &sum)) in taps.iter().zip(&sums).enumerate() {
                    let at = k * cinp;
                    if tap == next_tap && (at + cinp - cur.start) / PAIR_SLOTS * 2 <= MAX_CHUNK {
                        cur.end += cinp;
                        cur.sum += sum;
                    } else {
                        if k > 0 {
                            segs[nsegs] = cur;
                            nsegs += 1;
                        }
                        cur = Segment {
                            start: at,
                            end: at + cinp,
                            w_offset: tap * pairs_bytes,
                            sum,
                        };
                    }
                    next_tap = tap + 1;
                }
                if ntaps > 0 {
                    segs[nsegs] = cur;
                    nsegs += 1;
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
            let gb = g.group_bytes();
            if cout.is_multiple_of(QUAD) {
                // Every preset: a group is four consecutive channels of one phase, one position
                // check per run of groups of one phase, up to BATCH groups per kernel call.
                let ngroups = g.groups();
                let mut group = 0;
                while group < ngroups {
                    let (oy, ox) = (by * s + py, bx * s + px);
                    let inside = oy >= p && ox >= p && oy - p < oh && ox - p < ow;
                    // The groups left in this phase.
                    let run = ((cout - o) / QUAD).min(ngroups - group);
                    if inside {
                        let d0 = ((oy - p) * ow + (ox - p)) * cout;
                        let mut done = 0;
                        while done < run {
                            let k = (run - done).min(BATCH);
                            let first = group + done;
                            let w = &l.weight[first * gb..(first + k) * gb];
                            // The batch's 4·k consecutive outputs and channels: one bounds
                            // check each.
                            let o0 = o + done * QUAD;
                            let d = d0 + o0;
                            let b = &bias[4 * o0..4 * (o0 + k * QUAD)];
                            let accs = &mut accs[..k];
                            // The accumulators start at the biases.
                            if fits {
                                let ws = l.group_weights(w, first..first + k);
                                quad_dot_groups(accs, &xs, &segs[..nsegs], ws, gb, b);
                            } else {
                                for ((acc, w), b) in accs
                                    .iter_mut()
                                    .zip(w.chunks_exact(gb))
                                    .zip(b.chunks_exact(4 * QUAD))
                                {
                                    *acc = core::array::from_fn(|j| i32_at(b, j));
                                    dot_by_chunks(&mut xs, x, taps, w, cin, pairs_bytes, acc);
                                }
                            }
                            let out = &mut out[d..d + k * QUAD];
                            let exps = &l.requant[o0..o0 + k * QUAD];
                            for ((y, e), acc) in out
                                .chunks_exact_mut(QUAD)
                                .zip(exps.chunks_exact(QUAD))
                                .zip(accs.iter())
                            {
                                for (y, (&e, &a)) in y.iter_mut().zip(e.iter().zip(acc)) {
                                    *y = epilogue(a, e as i32);
                                }
                            }
                            done += k;
                        }
                    }
                    group += run;
                    step(&mut py, &mut px, &mut o, run * QUAD);
                }
            } else {
                let groups = l.weight.chunks_exact(gb).take(g.groups());
                for (group, w) in groups.enumerate() {
                    // Output positions and channels of the group's values (phase and channel by
                    // division: one instruction each on ARMv7-M); skip the group if none is
                    // inside.
                    let v0 = group * QUAD;
                    let nv = (g.values - v0).min(QUAD);
                    let mut dst = [(usize::MAX, 0usize); QUAD];
                    let mut any = false;
                    // Every output of the window inside the image: offsets from the table.
                    let inside = by * s >= p
                        && bx * s >= p
                        && by * s + s - 1 - p < oh
                        && bx * s + s - 1 - p < ow;
                    if group == 0 && inside {
                        let base = ((by * s - p) * ow + (bx * s - p)) * cout;
                        for (d, &(off, o)) in dst[..nv].iter_mut().zip(&first_group) {
                            *d = (base + off, o);
                        }
                        any = nv > 0;
                    } else {
                        for (j, d) in dst[..nv].iter_mut().enumerate() {
                            let v = v0 + j;
                            let (phase, o) = (v / cout, v % cout);
                            let (oy, ox) = (by * s + phase / s, bx * s + phase % s);
                            if oy >= p && ox >= p && oy - p < oh && ox - p < ow {
                                *d = (((oy - p) * ow + (ox - p)) * cout + o, o);
                                any = true;
                            }
                        }
                    }
                    if !any {
                        continue;
                    }
                    let first = group == 0;
                    let b = if first { &first_bias.0 } else { &ZERO_BIAS.0 };
                    let mut acc = [[0i32; QUAD]];
                    if fits {
                        let ws = l.group_weights(w, group..group + 1);
                        quad_dot_groups(&mut acc, &xs, &segs[..nsegs], ws, gb, b);
                    } else {
                        acc[0] = core::array::from_fn(|j| i32_at(b, j));
                        dot_by_chunks(&mut xs, x, taps, w, cin, pairs_bytes, &mut acc[0]);
                    }
                    for (&(d, o), &a) in dst.iter().zip(&acc[0]) {
                        if d != usize::MAX {
                            let a = if first { a } else { i32_at(bias, o) + a };
                            out[d] = epilogue(a, l.requant[o] as i32);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86;

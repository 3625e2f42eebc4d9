//! The x86-64 forward pass of a layer (`run_layer` hands it every layer it takes: [`pick`]): the
//! loops of the generic path turned inside out, for the host's caches. For each batch of up to
//! [`BATCH`] weight groups (four channels of one phase each), every window in turn: the batch's
//! weights (at most 64 KB for `dcgan`) stay in the cache while the windows pass, instead of every
//! window streaming all of the layer's weights. The kernels ([`wide_dot`] on the wide weights,
//! [`quad_dot_avx2`] on the int8 ones) read the int8 inputs in place, so there is no window
//! buffer to fill, and one call does up to eight groups. At AVX2 and VNNI levels the whole layer
//! (loops, kernel, epilogue) is compiled for that level (`layer_avx2`, `layer_vnni`), so the
//! kernel inlines and the epilogue's per-channel shifts vectorize with `VPSRAVD`. Compiled for
//! x86-64 only (the `cfg` is on its `mod` line in `forward.rs`); exact, so the bytes are those
//! of the generic path (the property test in `forward/tests.rs` runs every level this CPU has).

use super::{Layer, WindowGrid, i32_at, window_grid};
use crate::format::{MAX_TAPS, QUAD, QUAD_PAIR_BYTES, WIDE_PER_QUAD};
use crate::kernel::x86::{Level, Run, quad_dot_avx2, wide_dot};

/// Most groups of one kernel call.
const BATCH: usize = 8;

/// The window geometry of one layer.
struct Shape {
    cin: usize,
    taps: usize,
    ih: usize,
    iw: usize,
    s: usize,
    p: usize,
    oh: usize,
    ow: usize,
    cout: usize,
    nby: usize,
    nbx: usize,
    /// Weight units (wide words or quad-layout bytes) per tap of a group.
    tap_units: usize,
    /// Weight units per group.
    group_units: usize,
}

/// The weights the kernel multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Weights {
    /// The wide weights ([`wide_dot`], every level).
    Wide,
    /// The blob's int8 quad layout ([`quad_dot_avx2`], AVX2 and VNNI levels only).
    Quad,
}

/// The weights this loop multiplies layer `l` with at `level`, or `None` for the generic path:
/// the wide ones when the model has them (no unpacking), except on AVX2 for a layer whose wide
/// weights would not stay in the cache (over [`WIDE_MAX_BYTES`]), where the int8 ones are read
/// (half the bytes); the int8 ones on AVX2 without wide weights; the generic path at SSE2 level
/// without wide weights.
pub(crate) fn pick(level: Level, l: &Layer<'_>) -> Option<Weights> {
    match (level.avx2(), l.wide.is_empty()) {
        (true, false) if 2 * l.weight.len() > WIDE_MAX_BYTES => Some(Weights::Quad),
        (_, false) => Some(Weights::Wide),
        (true, true) => Some(Weights::Quad),
        (false, true) => None,
    }
}

/// Largest wide weights of a layer that [`pick`] multiplies in the wide layout on AVX2: half of
/// a 1 MB L2. Measured on a Zen 4 (`mlp`, whose dense layers read each weight once per image,
/// 2 of its 3 MB of wide weights in two layers): 41.5 µs with the int8 weights above this,
/// 47 µs with all weights wide (the wide bytes come from L3 at ~60 GB/s); `tiny` (all layers
/// below) 21.5 µs wide, 25.5 µs int8; `dcgan`'s 1 MB transposed conv too is faster on its int8
/// weights (whole model 488 µs, 595 µs with that layer wide).
const WIDE_MAX_BYTES: usize = 1 << 19;

impl Shape {
    /// The runs of window `(by, bx)` into `runs`, their number: one per valid tap (the taps of a
    /// row read input pixels in descending order, so runs never merge).
    #[inline(always)]
    fn runs(&self, by: usize, bx: usize, runs: &mut [Run; MAX_TAPS * MAX_TAPS]) -> usize {
        let t = self.taps;
        let (ty0, ty1) = ((by + 1).saturating_sub(self.ih), t.min(by + 1));
        let (tx0, tx1) = ((bx + 1).saturating_sub(self.iw), t.min(bx + 1));
        let mut n = 0;
        for ty in ty0..ty1 {
            let row = (by - ty) * self.iw + bx;
            for tx in tx0..tx1 {
                runs[n] = Run {
                    x: (row - tx) * self.cin,
                    w: (ty * t + tx) * self.tap_units,
                    pairs: self.cin / 2,
                };
                n += 1;
            }
        }
        n
    }

    /// Offset of channel 0 of the output pixel of phase `(py, px)` of window `(by, bx)`, if the
    /// pixel is inside the image.
    #[inline(always)]
    fn at(&self, by: usize, bx: usize, py: usize, px: usize) -> Option<usize> {
        let (oy, ox) = (by * self.s + py, bx * self.s + px);
        let (p, oh, ow) = (self.p, self.oh, self.ow);
        let inside = oy >= p && ox >= p && oy - p < oh && ox - p < ow;
        inside.then(|| ((oy - p) * ow + (ox - p)) * self.cout)
    }
}

/// Runs the layer `l` (like `run_layer`) with `weights` at `level` and returns `true`, or returns
/// `false` without writing anything when the layer has an odd number of input channels (the
/// kernels read input pairs in place), or no wide weights for [`Weights::Wide`], or for
/// [`Weights::Quad`] when `level` is not AVX2. On AVX2 the whole layer (loops, kernel and
/// epilogue) is compiled for AVX2, so that the epilogue's per-channel shifts use `VPSRAVD`.
pub(crate) fn run_layer_x86<T>(
    level: Level,
    weights: Weights,
    l: &Layer<'_>,
    x: &[i8],
    bias: &[u8],
    out: &mut [T],
    epilogue: &impl Fn(i32, i32) -> T,
) -> bool {
    match level {
        // SAFETY: AVX2 is present at this level.
        Level::Avx2 => unsafe { layer_avx2(weights, l, x, bias, out, epilogue) },
        // SAFETY: AVX2 and VNNI are present at this level.
        Level::Vnni => unsafe { layer_vnni(weights, l, x, bias, out, epilogue) },
        Level::Sse2 => layer(Level::Sse2, weights, l, x, bias, out, epilogue),
    }
}

/// [`run_layer_x86`] at [`Level::Avx2`], compiled for AVX2. Safety: AVX2 present.
#[target_feature(enable = "avx2")]
unsafe fn layer_avx2<T>(
    weights: Weights,
    l: &Layer<'_>,
    x: &[i8],
    bias: &[u8],
    out: &mut [T],
    epilogue: &impl Fn(i32, i32) -> T,
) -> bool {
    layer(Level::Avx2, weights, l, x, bias, out, epilogue)
}

/// [`run_layer_x86`] at [`Level::Vnni`], compiled for AVX2 and AVX-512 VNNI. Safety: those
/// present.
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
unsafe fn layer_vnni<T>(
    weights: Weights,
    l: &Layer<'_>,
    x: &[i8],
    bias: &[u8],
    out: &mut [T],
    epilogue: &impl Fn(i32, i32) -> T,
) -> bool {
    layer(Level::Vnni, weights, l, x, bias, out, epilogue)
}

/// [`run_layer_x86`]'s body.
#[inline(always)]
fn layer<T>(
    level: Level,
    weights: Weights,
    l: &Layer<'_>,
    x: &[i8],
    bias: &[u8],
    out: &mut [T],
    epilogue: &impl Fn(i32, i32) -> T,
) -> bool {
    let g = l.geom;
    let refused = match weights {
        Weights::Wide => l.wide.is_empty(),
        Weights::Quad => !level.avx2(),
    };
    if refused || !g.cin.is_multiple_of(2) {
        return false;
    }
    // Weight units per input pair.
    let unit = match weights {
        Weights::Wide => QUAD_PAIR_BYTES * WIDE_PER_QUAD / 4,
        Weights::Quad => QUAD_PAIR_BYTES,
    };
    let WindowGrid {
        cout,
        s,
        p,
        taps,
        nby,
        nbx,
    } = window_grid(l);
    let [_, ih, iw] = l.in_shape;
    let [_, oh, ow] = l.out_shape;
    let sh = Shape {
        cin: g.cin,
        taps,
        ih,
        iw,
        s,
        p,
        oh,
        ow,
        cout,
        nby,
        nbx,
        tap_units: g.pairs() * unit,
        group_units: g.taps * g.pairs() * unit,
    };
    if cout.is_multiple_of(QUAD) {
        // Every preset's hidden layers: a group is four consecutive channels of one phase; per
        // phase, batches of groups.
        for phase in 0..s * s {
            let mut o = 0;
            while o < cout {
                let left = (cout - o) / QUAD;
                let first = (phase * cout + o) / QUAD * sh.group_units;
                let job = Job {
                    level,
                    sh: &sh,
                    x,
                    w: match weights {
                        Weights::Wide => W::Wide(&l.wide[first..]),
                        Weights::Quad => W::Quad(&l.weight[first..]),
                    },
                    phase,
                    o,
                };
                o += QUAD
                    * if left >= BATCH {
                        job.run::<BATCH, T>(bias, l.requant, out, epilogue)
                    } else if left >= 4 {
                        job.run::<4, T>(bias, l.requant, out, epilogue)
                    } else {
                        job.run::<1, T>(bias, l.requant, out, epilogue)
                    };
            }
        }
    } else {
        // Groups across phases (the last layer's single channel): group by group, every value's
        // pixel checked per window.
        let mut runs = [Run::default(); MAX_TAPS * MAX_TAPS];
        for group in 0..g.groups() {
            // Phase, channel, bias and exponent of each of the group's values (not the padding).
            let nv = (g.values - group * QUAD).min(QUAD);
            let mut vals = [(0usize, 0usize, 0usize, 0i32, 0i32); QUAD];
            for (j, val) in vals[..nv].iter_mut().enumerate() {
                let v = group * QUAD + j;
                let (phase, o) = (v / cout, v % cout);
                *val = (
                    phase / s,
                    phase % s,
                    o,
                    i32_at(bias, o),
                    l.requant[o] as i32,
                );
            }
            let vals = &vals[..nv];
            let units = group * sh.group_units..(group + 1) * sh.group_units;
            let w = match weights {
                Weights::Wide => W::Wide(&l.wide[units]),
                Weights::Quad => W::Quad(&l.weight[units]),
            };
            for by in 0..nby {
                for bx in 0..nbx {
                    let mut dst = [usize::MAX; QUAD];
                    let mut any = false;
                    for (d, &(py, px, o, _, _)) in dst.iter_mut().zip(vals) {
                        if let Some(at) = sh.at(by, bx, py, px) {
                            *d = at + o;
                            any = true;
                        }
                    }
                    if !any {
                        continue;
                    }
                    let n = sh.runs(by, bx, &mut runs);
                    let mut acc = [[0i32; QUAD]];
                    w.dot(level, &mut acc, x, &runs[..n], sh.group_units);
                    for ((&d, &(_, _, _, b, e)), a) in dst.iter().zip(vals).zip(acc[0]) {
                        if d != usize::MAX {
                            out[d] = epilogue(b + a, e);
                        }
                    }
                }
            }
        }
    }
    true
}

/// Weights from a batch's first group on.
#[derive(Clone, Copy)]
enum W<'a> {
    Wide(&'a [u32]),
    Quad(&'a [u8]),
}

impl W<'_> {
    /// The kernel: `accs[k] +=` group `k`'s four dot products with the window `runs` of `x`.
    #[inline(always)]
    fn dot<const K: usize>(
        self,
        level: Level,
        accs: &mut [[i32; QUAD]; K],
        x: &[i8],
        runs: &[Run],
        group_units: usize,
    ) {
        match self {
            W::Wide(w) => wide_dot(level, accs, x, runs, w, group_units),
            // SAFETY: `run_layer_x86` takes the quad layout on AVX2 (or VNNI) only.
            W::Quad(w) => unsafe { quad_dot_avx2(level, accs, x, runs, w, group_units) },
        }
    }
}

/// One batch of groups of one phase: the inputs, the weights from the batch's first group on,
/// and the phase and channel of its first value.
struct Job<'a> {
    level: Level,
    sh: &'a Shape,
    x: &'a [i8],
    w: W<'a>,
    phase: usize,
    o: usize,
}

impl Job<'_> {
    /// Runs `K` groups (channels `o..o + 4K`) over every window; returns `K`.
    #[inline(always)]
    fn run<const K: usize, T>(
        &self,
        bias: &[u8],
        requant: &[i8],
        out: &mut [T],
        epilogue: &impl Fn(i32, i32) -> T,
    ) -> usize {
        let (sh, o) = (self.sh, self.o);
        let (py, px) = (self.phase / sh.s, self.phase % sh.s);
        let bias: [[i32; QUAD]; K] =
            core::array::from_fn(|k| core::array::from_fn(|j| i32_at(bias, o + QUAD * k + j)));
        let exps = &requant[o..o + QUAD * K];
        let mut runs = [Run::default(); MAX_TAPS * MAX_TAPS];
        for by in 0..sh.nby {
            for bx in 0..sh.nbx {
                let Some(d) = sh.at(by, bx, py, px) else {
                    continue;
                };
                let n = sh.runs(by, bx, &mut runs);
                let mut accs = bias;
                let (x, runs) = (self.x, &runs[..n]);
                self.w.dot(self.level, &mut accs, x, runs, sh.group_units);
                let out = &mut out[d + o..d + o + QUAD * K];
                for (y, (&a, &e)) in out.iter_mut().zip(accs.as_flattened().iter().zip(exps)) {
                    *y = epilogue(a, e as i32);
                }
            }
        }
        K
    }
}

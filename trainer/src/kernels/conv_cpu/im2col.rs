//! The kernels on burn-flex tensors (row-major `f32` or `f64`; other dtypes fall back to
//! burn-flex's own convolutions).

use super::*;
use crate::kernels::cpu_gemm::{Real, Scratch, common_dtype, matmul, tensor, values};

/// Per-sample sizes of one convolution: input `[b, h, w]`, kernel `k × k`, output `[·, oh, ow]`.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    h: usize,
    w: usize,
    k: usize,
    oh: usize,
    ow: usize,
    geom: Geometry,
}

impl Dims {
    /// Output positions per sample.
    fn p(&self) -> usize {
        self.oh * self.ow
    }
    /// Columns of the im2col matrix.
    fn bkk(&self) -> usize {
        self.b * self.k * self.k
    }
    /// Values per sample on the input side, `B·H·W`.
    fn in_len(&self) -> usize {
        self.b * self.h * self.w
    }
}

fn shape4(t: &FlexTensor) -> [usize; 4] {
    let s = t.layout().shape();
    [s[0], s[1], s[2], s[3]]
}

fn conv_options(geom: Geometry) -> ConvOptions<2> {
    let (s, p) = (geom.stride, geom.padding);
    ConvOptions::new([s, s], [p, p], [1, 1], 1)
}

fn transpose_options(geom: Geometry) -> ConvTransposeOptions<2> {
    let (s, p) = (geom.stride, geom.padding);
    ConvTransposeOptions::new([s, s], [p, p], [0, 0], [1, 1], 1)
}

/// `cols[i·P + p, (c·K + kh)·K + kw] = x[i, c, oh·s − pad + kh, ow·s − pad + kw]` (0 outside)
/// for the samples `x [n, B, H, W]` of one chunk; every entry of `cols [n·P, B·K·K]` is written.
fn im2col<T: Real>(cols: &mut [T], x: &[T], d: Dims) {
    // A compile-time kernel width turns the row copies into a few vector moves instead of
    // `memmove` calls.
    match d.k {
        4 => im2col_k::<T, 4>(cols, x, d),
        3 => im2col_k::<T, 3>(cols, x, d),
        _ => im2col_k::<T, 0>(cols, x, d),
    }
}

/// [`im2col`] for kernel width `K` (`0`: the width in `d`).
fn im2col_k<T: Real, const K: usize>(cols: &mut [T], x: &[T], d: Dims) {
    for (cols, x) in cols
        .chunks_exact_mut(d.p() * d.bkk())
        .zip(x.chunks_exact(d.in_len()))
    {
        im2col_sample::<T, K>(cols, x, d);
    }
}

/// [`im2col`] of one sample `x [B, H, W]` into its `[P, B·K·K]` rows.
#[inline(never)]
fn im2col_sample<T: Real, const K: usize>(cols: &mut [T], x: &[T], d: Dims) {
    let k = if K == 0 { d.k } else { K };
    let bkk = d.bkk();
    let (s, pad) = (d.geom.stride as isize, d.geom.padding as isize);
    for oy in 0..d.oh {
        for ox in 0..d.ow {
            let row = &mut cols[(oy * d.ow + ox) * bkk..][..bkk];
            let ix0 = ox as isize * s - pad;
            let inside = ix0 >= 0 && ix0 + k as isize <= d.w as isize;
            for c in 0..d.b {
                let plane = &x[c * d.h * d.w..][..d.h * d.w];
                for kh in 0..k {
                    let out = &mut row[(c * k + kh) * k..][..k];
                    let iy = oy as isize * s - pad + kh as isize;
                    if iy < 0 || iy >= d.h as isize {
                        out.fill(T::default());
                        continue;
                    }
                    let line = &plane[iy as usize * d.w..][..d.w];
                    if inside {
                        out.copy_from_slice(&line[ix0 as usize..][..k]);
                        continue;
                    }
                    for (kw, o) in out.iter_mut().enumerate() {
                        let ix = ix0 + kw as isize;
                        *o = if ix >= 0 && ix < d.w as isize {
                            line[ix as usize]
                        } else {
                            T::default()
                        };
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every entry of `cols [n·P, B·K·K]` into its position in
/// `x [n, B, H, W]`.
fn col2im<T: Real>(x: &mut [T], cols: &[T], d: Dims) {
    match d.k {
        4 => col2im_k::<T, 4>(x, cols, d),
        3 => col2im_k::<T, 3>(x, cols, d),
        _ => col2im_k::<T, 0>(x, cols, d),
    }
}

/// [`col2im`] for kernel width `K` (`0`: the width in `d`).
fn col2im_k<T: Real, const K: usize>(x: &mut [T], cols: &[T], d: Dims) {
    for (x, cols) in x
        .chunks_exact_mut(d.in_len())
        .zip(cols.chunks_exact(d.p() * d.bkk()))
    {
        col2im_sample::<T, K>(x, cols, d);
    }
}

/// [`col2im`] of one sample: adds its `[P, B·K·K]` rows into `x [B, H, W]`.
#[inline(never)]
fn col2im_sample<T: Real, const K: usize>(x: &mut [T], cols: &[T], d: Dims) {
    let k = if K == 0 { d.k } else { K };
    let bkk = d.bkk();
    let (s, pad) = (d.geom.stride as isize, d.geom.padding as isize);
    for oy in 0..d.oh {
        for ox in 0..d.ow {
            let row = &cols[(oy * d.ow + ox) * bkk..][..bkk];
            let ix0 = ox as isize * s - pad;
            let inside = ix0 >= 0 && ix0 + k as isize <= d.w as isize;
            for c in 0..d.b {
                let plane = &mut x[c * d.h * d.w..][..d.h * d.w];
                for kh in 0..k {
                    let iy = oy as isize * s - pad + kh as isize;
                    if iy < 0 || iy >= d.h as isize {
                        continue;
                    }
                    let line = &mut plane[iy as usize * d.w..][..d.w];
                    let src = &row[(c * k + kh) * k..][..k];
                    if inside {
                        let dst = &mut line[ix0 as usize..][..k];
                        for (o, v) in dst.iter_mut().zip(src) {
                            *o += *v;
                        }
                        continue;
                    }
                    for (kw, v) in src.iter().enumerate() {
                        let ix = ix0 + kw as isize;
                        if ix >= 0 && ix < d.w as isize {
                            line[ix as usize] += *v;
                        }
                    }
                }
            }
        }
    }
}

/// `t [n, c, p]` → `out [c, n·p]`: puts every sample's row of channel `c` next to the others,
/// so a chunk's feature maps are one matrix with the samples in its long dimension.
fn channels_first<T: Real>(out: &mut [T], t: &[T], c: usize, p: usize) {
    let n = t.len() / (c * p);
    for (i, t) in t.chunks_exact(c * p).enumerate() {
        for (ci, row) in t.chunks_exact(p).enumerate() {
            out[(ci * n + i) * p..][..p].copy_from_slice(row);
        }
    }
}

/// The inverse of [`channels_first`]: `t [c, n·p]` → `out [n, c, p]`.
fn samples_first<T: Real>(out: &mut [T], t: &[T], c: usize, p: usize) {
    let n = t.len() / (c * p);
    for (i, out) in out.chunks_exact_mut(c * p).enumerate() {
        for (ci, row) in out.chunks_exact_mut(p).enumerate() {
            row.copy_from_slice(&t[(ci * n + i) * p..][..p]);
        }
    }
}

/// Samples per parallel task for a convolution whose per-sample im2col matrix has
/// `cols_per_sample` entries.
///
/// Each task runs im2col (or col2im), one single-threaded GEMM and the layout copies for its
/// samples while their column matrix (about 4 MB) is still in cache. Whole-batch matrices
/// (38 MB for the critic's second layer at batch 192) made im2col, col2im and the transposes
/// memory-bound, a quarter of a training step, and the multi-threaded GEMM's synchronisation
/// showed up in the profile too. Of 0.25, 1, 4 and 16 MB, 4 MB was fastest in
/// `examples/conv_profile.rs`. There are at least four tasks per thread where the batch
/// allows it.
fn chunk_samples<T>(n: usize, cols_per_sample: usize) -> usize {
    // Unit tests use small budgets so that their small tensors still span several chunks
    // (ragged last chunk, accumulated weight-gradient chunks).
    const CHUNK_BYTES: usize = if cfg!(test) { 64 << 10 } else { 4 << 20 };
    let by_cache = CHUNK_BYTES / (cols_per_sample * std::mem::size_of::<T>()).max(1);
    let by_balance = n.div_ceil(4 * rayon::current_num_threads());
    by_cache.min(by_balance).max(1)
}

/// Independent partial sums of a weight gradient (a fixed number, so that the summation
/// order, and hence the result, does not depend on thread scheduling: resumed runs must
/// reproduce uninterrupted ones bit for bit).
const WEIGHT_GRAD_GROUPS: usize = 8;

/// `x [N, B, H, W]`, `w [A, B, K, K]` → `[N, A, OH, OW]`.
pub(super) fn conv2d(x: FlexTensor, w: FlexTensor, geom: Geometry) -> FlexTensor {
    match common_dtype(&[&x, &w]) {
        Some(DType::F32) => conv2d_t::<f32>(x, w, geom),
        Some(DType::F64) => conv2d_t::<f64>(x, w, geom),
        _ => <Flex as ModuleOps<Flex>>::conv2d(x, w, None, conv_options(geom)),
    }
}

fn conv2d_t<T: Real>(x: FlexTensor, w: FlexTensor, geom: Geometry) -> FlexTensor {
    let [n, b, h, wd] = shape4(&x);
    let [a, wb, k, k2] = shape4(&w);
    assert!(
        wb == b && k == k2,
        "conv2d: input {:?} and weight {:?} do not match",
        [n, b, h, wd],
        [a, wb, k, k2]
    );
    let d = Dims {
        b,
        h,
        w: wd,
        k,
        oh: geom.conv_out(h, k),
        ow: geom.conv_out(wd, k),
        geom,
    };
    let (x, w) = (values::<T>(&x), values::<T>(&w));
    let (p, bkk) = (d.p(), d.bkk());
    let s = chunk_samples::<T>(n, p * bkk);
    let mut y = vec![T::default(); n * a * p];
    y.par_chunks_mut(s * a * p)
        .zip(x.par_chunks(s * d.in_len()))
        .for_each(|(y, x)| {
            let ns = y.len() / (a * p);
            let mut cols = Scratch::<T>::new(ns * p * bkk);
            im2col(&mut cols, x, d);
            // maps[a, r] = Σ_c W[a, c] · cols[r, c]
            let r = ns * p;
            let mut maps = Scratch::<T>::new(a * r);
            matmul(&mut maps, (a, r, bkk), &w, (bkk, 1), &cols, (1, bkk), false);
            samples_first(y, &maps, a, p);
        });
    tensor(y, [n, a, d.oh, d.ow])
}

/// `g [N, A, OH, OW]`, `w [A, B, K, K]` → `[N, B, H, W]`.
pub(super) fn conv_transpose2d(g: FlexTensor, w: FlexTensor, geom: Geometry) -> FlexTensor {
    match common_dtype(&[&g, &w]) {
        Some(DType::F32) => conv_transpose2d_t::<f32>(g, w, geom),
        Some(DType::F64) => conv_transpose2d_t::<f64>(g, w, geom),
        _ => {
            let options = transpose_options(geom);
            <Flex as ModuleOps<Flex>>::conv_transpose2d(g, w, None, options)
        }
    }
}

fn conv_transpose2d_t<T: Real>(g: FlexTensor, w: FlexTensor, geom: Geometry) -> FlexTensor {
    let [n, a, oh, ow] = shape4(&g);
    let [wa, b, k, k2] = shape4(&w);
    assert!(
        wa == a && k == k2,
        "conv_transpose2d: input {:?} and weight {:?} do not match",
        [n, a, oh, ow],
        [wa, b, k, k2]
    );
    let d = Dims {
        b,
        h: geom.transpose_out(oh, k),
        w: geom.transpose_out(ow, k),
        k,
        oh,
        ow,
        geom,
    };
    let (g, w) = (values::<T>(&g), values::<T>(&w));
    let (p, bkk) = (d.p(), d.bkk());
    let s = chunk_samples::<T>(n, p * bkk);
    let mut out = vec![T::default(); n * d.in_len()];
    out.par_chunks_mut(s * d.in_len())
        .zip(g.par_chunks(s * a * p))
        .for_each(|(out, g)| {
            let ns = g.len() / (a * p);
            let r = ns * p;
            let mut maps = Scratch::<T>::new(a * r);
            channels_first(&mut maps, g, a, p);
            // cols[r, c] = Σ_a maps[a, r] · W[a, c]
            let mut cols = Scratch::<T>::new(r * bkk);
            matmul(&mut cols, (r, bkk, a), &maps, (1, r), &w, (bkk, 1), false);
            col2im(out, &cols, d);
        });
    tensor(out, [n, b, d.h, d.w])
}

/// `x [N, B, H, W]`, `g [N, A, OH, OW]` → `dW [A, B, K, K] = Σ gᵀ · cols(x)`.
pub(super) fn weight_grad(x: FlexTensor, g: FlexTensor, k: usize, geom: Geometry) -> FlexTensor {
    let [n, b, h, wd] = shape4(&x);
    let [gn, a, oh, ow] = shape4(&g);
    assert!(
        gn == n && oh == geom.conv_out(h, k) && ow == geom.conv_out(wd, k),
        "conv weight gradient: input {:?} and output gradient {:?} do not match",
        [n, b, h, wd],
        [gn, a, oh, ow]
    );
    match common_dtype(&[&x, &g]) {
        Some(DType::F32) => weight_grad_t::<f32>(x, g, k, geom),
        Some(DType::F64) => weight_grad_t::<f64>(x, g, k, geom),
        _ => {
            let w = FlexTensor::zeros(burn::tensor::Shape::new([a, b, k, k]), x.dtype());
            <Flex as ModuleOps<Flex>>::conv2d_weight_backward(x, w, g, conv_options(geom))
        }
    }
}

fn weight_grad_t<T: Real>(x: FlexTensor, g: FlexTensor, k: usize, geom: Geometry) -> FlexTensor {
    let [n, b, h, wd] = shape4(&x);
    let [_, a, oh, ow] = shape4(&g);
    let d = Dims {
        b,
        h,
        w: wd,
        k,
        oh,
        ow,
        geom,
    };
    let (x, g) = (values::<T>(&x), values::<T>(&g));
    let (p, bkk) = (d.p(), d.bkk());
    let s = chunk_samples::<T>(n, p * bkk);
    let per_group = n.div_ceil(WEIGHT_GRAD_GROUPS).max(1);
    // dW[a, c] = Σ_r maps[a, r] · cols[r, c], summed over the groups in a fixed order.
    let partials: Vec<Vec<T>> = x
        .par_chunks(per_group * d.in_len())
        .zip(g.par_chunks(per_group * a * p))
        .map(|(x, g)| {
            let mut dw = vec![T::default(); a * bkk];
            for (i, (x, g)) in x
                .chunks(s * d.in_len())
                .zip(g.chunks(s * a * p))
                .enumerate()
            {
                let ns = g.len() / (a * p);
                let mut cols = Scratch::<T>::new(ns * p * bkk);
                im2col(&mut cols, x, d);
                let r = ns * p;
                let mut maps = Scratch::<T>::new(a * r);
                channels_first(&mut maps, g, a, p);
                matmul(&mut dw, (a, bkk, r), &maps, (r, 1), &cols, (bkk, 1), i > 0);
            }
            dw
        })
        .collect();
    let mut parts = partials.into_iter();
    let mut dw = parts.next().unwrap_or_else(|| vec![T::default(); a * bkk]);
    for part in parts {
        for (o, v) in dw.iter_mut().zip(&part) {
            *o += *v;
        }
    }
    tensor(dw, [a, b, k, k])
}

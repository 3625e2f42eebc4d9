//! The models' convolutions on the CPU backend: im2col + GEMM over cache-sized chunks of the batch.
//!
//! Every convolution the models use is a square-kernel, stride-`s`, padding-`p` convolution
//! without groups or dilation, and training needs exactly three products with its weight `W`
//! `[A, B, K, K]` (`A` = the convolution's output channels):
//!
//! | operation | shapes | GEMM |
//! |---|---|---|
//! | [`conv2d`] | `x [N, B, H, W] → y [N, A, OH, OW]` | `cols(x) · Wᵀ` |
//! | [`conv_transpose2d`] | `g [N, A, OH, OW] → [N, B, H, W]` | `col2im(g · W)` |
//! | weight gradient | `x, g → [A, B, K, K]` | `gᵀ · cols(x)` |
//!
//! `cols(x)` is the im2col matrix `[N·OH·OW, B·K·K]`. The batch is split into chunks of a few
//! samples whose column matrix fits in cache (about 4 MB); each chunk is one GEMM with its samples in
//! the long dimension, and the chunks run in parallel (burn-flex's `conv2d` tiles the output into
//! many small GEMMs, and its weight gradient is a convolution with a 14×14 "kernel"). The three
//! close under differentiation: a convolution's input gradient is a transposed convolution and vice
//! versa, and both weight gradients are the third product. So these two functions, with their own
//! backward passes (a Burn backend extension, [`GemmConv`]), are all the critic's explicit input
//! gradient needs for the gradient penalty to be ordinary autodiff.
//!
//! Only the CPU backend (burn-flex) takes this path, and only for `f32` and `f64` (the gradient
//! tests run in `f64`); every other device or dtype goes through Burn's own `conv2d` / `conv_transpose2d`.
//! `examples/conv_profile.rs` times both paths; the tests below check them against each other, and
//! `tests/gradient_penalty.rs` checks the penalty gradient through them against finite differences.

use crate::kernels::cpu_gemm::uses_gemm;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, DType, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::module::{conv_transpose2d as burn_conv_transpose2d, conv2d as burn_conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use rayon::prelude::*;

/// Convolution geometry: square kernel, stride and symmetric zero padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
}

impl Geometry {
    /// Output size of the convolution along one axis of size `input` with kernel `k`.
    fn conv_out(self, input: usize, k: usize) -> usize {
        (input + 2 * self.padding - k) / self.stride + 1
    }

    /// Output size of the transposed convolution along one axis of size `input` with kernel `k`.
    fn transpose_out(self, input: usize, k: usize) -> usize {
        (input - 1) * self.stride + k - 2 * self.padding
    }
}

/// 2-D convolution without bias: `x [N, B, H, W]`, `w [A, B, K, K]` → `[N, A, OH, OW]`.
///
/// On the CPU backend (`f32`, `f64`) this is [`GemmConv::gemm_conv2d`]; elsewhere Burn's `conv2d`.
pub fn conv2d(x: Tensor<4>, w: Tensor<4>, geom: Geometry) -> Tensor<4> {
    if uses_gemm(&x) {
        Tensor::from_dispatch(<burn::backend::Dispatch as GemmConv>::gemm_conv2d(
            x.into_dispatch(),
            w.into_dispatch(),
            geom.stride,
            geom.padding,
        ))
    } else {
        let p = geom.padding;
        let s = geom.stride;
        burn_conv2d(x, w, None, ConvOptions::new([s, s], [p, p], [1, 1], 1))
    }
}

/// 2-D transposed convolution without bias (output padding 0): `g [N, A, OH, OW]`,
/// `w [A, B, K, K]` → `[N, B, (OH−1)·s + K − 2p, …]`, the adjoint of [`conv2d`] with the same `w`.
///
/// On the CPU backend (`f32`, `f64`) this is [`GemmConv::gemm_conv_transpose2d`]; elsewhere Burn's
/// `conv_transpose2d`.
pub fn conv_transpose2d(g: Tensor<4>, w: Tensor<4>, geom: Geometry) -> Tensor<4> {
    if uses_gemm(&g) {
        Tensor::from_dispatch(
            <burn::backend::Dispatch as GemmConv>::gemm_conv_transpose2d(
                g.into_dispatch(),
                w.into_dispatch(),
                geom.stride,
                geom.padding,
            ),
        )
    } else {
        let p = geom.padding;
        let s = geom.stride;
        burn_conv_transpose2d(
            g,
            w,
            None,
            ConvTransposeOptions::new([s, s], [p, p], [0, 0], [1, 1], 1),
        )
    }
}

/// The two convolutions as a Burn backend extension: kernels for burn-flex, and for
/// `Autodiff<Flex>` the backward passes built from the same kernels.
#[backend_extension(Flex, Autodiff)]
pub trait GemmConv: Backend {
    /// See [`conv2d`].
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;

    /// See [`conv_transpose2d`].
    fn gemm_conv_transpose2d(
        g: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

impl GemmConv for Flex {
    fn gemm_conv2d(x: FlexTensor, w: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        kernels::conv2d(x, w, Geometry { stride, padding })
    }

    fn gemm_conv_transpose2d(
        g: FlexTensor,
        w: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        kernels::conv_transpose2d(g, w, Geometry { stride, padding })
    }
}

/// Backward of both operations, with `w [A, B, K, K]`:
/// - `y = conv2d(x, w)`: `dx = conv_transpose2d(dy, w)`, `dw = dyᵀ · cols(x)`;
/// - `out = conv_transpose2d(g, w)` (`transposed`): `dg = conv2d(dout, w)`, `dw = gᵀ · cols(dout)`.
#[derive(Debug)]
struct ConvBackward {
    transposed: bool,
}

impl Backward<Flex, 2> for ConvBackward {
    type State = (NodeId, NodeId, Geometry);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, ckpt: &mut Checkpointer) {
        let [node_in, node_w] = ops.parents;
        let d_out = grads.consume::<Flex>(&ops.node);
        let (in_id, w_id, geom) = ops.state;
        let input: FlexTensor = ckpt.retrieve_node_output(in_id);
        let w: FlexTensor = ckpt.retrieve_node_output(w_id);
        let k = w.layout().shape()[2];
        if let Some(node) = node_w {
            // The weight gradient pairs the conv2d-side input with the conv2d-side output gradient.
            let dw = if self.transposed {
                kernels::weight_grad(d_out.clone(), input, k, geom)
            } else {
                kernels::weight_grad(input, d_out.clone(), k, geom)
            };
            grads.register::<Flex>(node.id, dw);
        }
        if let Some(node) = node_in {
            let d_in = if self.transposed {
                kernels::conv2d(d_out, w, geom)
            } else {
                kernels::conv_transpose2d(d_out, w, geom)
            };
            grads.register::<Flex>(node.id, d_in);
        }
    }
}

impl<C: CheckpointStrategy> GemmConv for Autodiff<Flex, C> {
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        record::<C>(false, x, w, Geometry { stride, padding })
    }

    fn gemm_conv_transpose2d(
        g: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        record::<C>(true, g, w, Geometry { stride, padding })
    }
}

/// Runs `conv2d(input, w)` (or `conv_transpose2d` when `transposed`) and, when either input is
/// tracked, records it on the autodiff graph with its [`ConvBackward`] (which gets both inputs back
/// from the checkpointer).
fn record<C: CheckpointStrategy>(
    transposed: bool,
    input: FloatTensor<Autodiff<Flex, C>>,
    w: FloatTensor<Autodiff<Flex, C>>,
    geom: Geometry,
) -> FloatTensor<Autodiff<Flex, C>> {
    let kernel = if transposed {
        kernels::conv_transpose2d
    } else {
        kernels::conv2d
    };
    let backward = ConvBackward { transposed };
    match backward
        .prepare::<C>([input.node(), w.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let input_id = prep.checkpoint(&input);
            let w_id = prep.checkpoint(&w);
            let out = kernel(input.into_primitive(), w.into_primitive(), geom);
            prep.finish((input_id, w_id, geom), out)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(kernel(input.into_primitive(), w.into_primitive(), geom))
        }
    }
}

/// The kernels on burn-flex tensors (row-major `f32` or `f64`; other dtypes fall back to
/// burn-flex's own convolutions).
mod kernels {
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
    pub(super) fn weight_grad(
        x: FlexTensor,
        g: FlexTensor,
        k: usize,
        geom: Geometry,
    ) -> FlexTensor {
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

    fn weight_grad_t<T: Real>(
        x: FlexTensor,
        g: FlexTensor,
        k: usize,
        geom: Geometry,
    ) -> FlexTensor {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu_gemm::test_util::{assert_close, randn as rand4};

    const GEOM: Geometry = Geometry {
        stride: 2,
        padding: 1,
    };

    /// The GEMM kernels against burn-flex's own conv2d / conv_transpose2d, with odd sizes,
    /// stride 1 and 2, and a non-contiguous input.
    #[test]
    fn matches_burn_convolutions() {
        let device = Device::flex();
        for (geom, hw, k) in [
            (GEOM, 14, 4),
            (
                Geometry {
                    stride: 1,
                    padding: 1,
                },
                9,
                3,
            ),
        ] {
            // 40 samples: several chunks, the last one short.
            let x = rand4([40, 5, hw, hw], &device);
            let w = rand4([7, 5, k, k], &device);
            let ours = conv2d(x.clone(), w.clone(), geom);
            let (s, p) = (geom.stride, geom.padding);
            let theirs = burn_conv2d(
                x.clone(),
                w.clone(),
                None,
                ConvOptions::new([s, s], [p, p], [1, 1], 1),
            );
            assert_close(ours.clone(), theirs, "conv2d");

            let ours_t = conv_transpose2d(ours.clone(), w.clone(), geom);
            let theirs_t = burn_conv_transpose2d(
                ours,
                w.clone(),
                None,
                ConvTransposeOptions::new([s, s], [p, p], [0, 0], [1, 1], 1),
            );
            assert_eq!(ours_t.dims(), [40, 5, hw, hw]);
            assert_close(ours_t, theirs_t, "conv_transpose2d");
        }
        // A permuted (non-contiguous) input.
        let x = rand4([6, 6, 2, 3], &device).permute([2, 3, 0, 1]);
        let w = rand4([4, 3, 4, 4], &device);
        let theirs = burn_conv2d(
            x.clone(),
            w.clone(),
            None,
            ConvOptions::new([2, 2], [1, 1], [1, 1], 1),
        );
        assert_close(conv2d(x, w, GEOM), theirs, "conv2d, non-contiguous input");
    }

    /// Gradients through both operations (weights and inputs) against burn-flex's autodiff of its
    /// own convolutions.
    #[test]
    fn gradients_match_burn_autodiff() {
        let device = Device::flex().autodiff();
        // 60 samples: each weight-gradient group spans several chunks.
        let x0 = rand4([60, 3, 14, 14], &device);
        let w0 = rand4([6, 3, 4, 4], &device);
        let v0 = rand4([6, 3, 4, 4], &device);
        let run = |ours: bool| {
            let x = x0.clone().detach().require_grad();
            let w = w0.clone().detach().require_grad();
            let v = v0.clone().detach().require_grad();
            let (y, back) = if ours {
                let y = conv2d(x.clone(), w.clone(), GEOM);
                let back = conv_transpose2d(y.clone().tanh(), v.clone(), GEOM);
                (y, back)
            } else {
                let y = burn_conv2d(
                    x.clone(),
                    w.clone(),
                    None,
                    ConvOptions::new([2, 2], [1, 1], [1, 1], 1),
                );
                let back = burn_conv_transpose2d(
                    y.clone().tanh(),
                    v.clone(),
                    None,
                    ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1),
                );
                (y, back)
            };
            let loss = y.powf_scalar(2.0).sum() + (back * x.clone().sin()).sum();
            let grads = loss.backward();
            [x, w, v].map(|t| t.grad(&grads).expect("gradient"))
        };
        let ours = run(true);
        let theirs = run(false);
        for (name, (a, b)) in ["x", "w", "v"].iter().zip(ours.into_iter().zip(theirs)) {
            assert_close(a, b, &format!("gradient of {name}"));
        }
    }
}

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
        im2col::conv2d(x, w, Geometry { stride, padding })
    }

    fn gemm_conv_transpose2d(
        g: FlexTensor,
        w: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        im2col::conv_transpose2d(g, w, Geometry { stride, padding })
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
                im2col::weight_grad(d_out.clone(), input, k, geom)
            } else {
                im2col::weight_grad(input, d_out.clone(), k, geom)
            };
            grads.register::<Flex>(node.id, dw);
        }
        if let Some(node) = node_in {
            let d_in = if self.transposed {
                im2col::conv2d(d_out, w, geom)
            } else {
                im2col::conv_transpose2d(d_out, w, geom)
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
        im2col::conv_transpose2d
    } else {
        im2col::conv2d
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

mod im2col;

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

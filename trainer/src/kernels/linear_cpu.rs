//! The models' fully connected layers on the CPU backend: every product split across the threads.
//!
//! A fully connected layer `y = x · W + b` (`x [N, I]`, `W [I, O]`, Burn's layout) needs three
//! products in training: `x · W` forward, `dy · Wᵀ` for the input gradient and `xᵀ · dy` for the
//! weight gradient. With the batch at 64 rows, the `gemm` crate's own threading (which burn-flex's
//! `matmul` uses) runs these at single-thread speed plus synchronisation cost; here each product is
//! one single-threaded GEMM per thread on a block of output columns (or rows), see
//! `cpu_gemm::product`. [`GemmMatmul`] is the Burn backend extension, with its backward pass; like
//! [`crate::kernels::conv_cpu`], only the CPU backend in `f32` / `f64` takes this path (and not under
//! `TINYGAN_CPU_GEMM=burn`), every other device uses Burn's `linear`.

use crate::kernels::cpu_gemm::{self, common_dtype, product, tensor, uses_gemm, values};
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, DType, Flex, backend_extension};
use burn::prelude::*;

/// A fully connected layer: `x [N, I] · w [I, O] (+ b [O])` → `[N, O]`, Burn's `Linear` layout.
///
/// On the CPU backend (`f32`, `f64`) the product is [`GemmMatmul::gemm_matmul`]; elsewhere it is
/// Burn's `linear`.
///
/// ```
/// use burn::prelude::*;
/// use trainer::kernels::linear_cpu::linear;
///
/// let device = Device::flex();
/// let x = Tensor::<2>::from_floats([[1.0, 2.0]], &device);
/// let w = Tensor::<2>::from_floats([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], &device);
/// let b = Tensor::<1>::from_floats([0.5, 0.5, 0.5], &device);
/// let y = linear(x, w, Some(b));
/// assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![1.5, 2.5, 3.5]);
/// ```
pub fn linear(x: Tensor<2>, w: Tensor<2>, b: Option<Tensor<1>>) -> Tensor<2> {
    if !uses_gemm(&x) {
        return burn::tensor::module::linear(x, w, b);
    }
    let y = Tensor::from_dispatch(<burn::backend::Dispatch as GemmMatmul>::gemm_matmul(
        x.into_dispatch(),
        w.into_dispatch(),
    ));
    match b {
        Some(b) => {
            let o = b.dims()[0];
            y + b.reshape([1, o])
        }
        None => y,
    }
}

/// The matrix product as a Burn backend extension: the kernel for burn-flex, and for
/// `Autodiff<Flex>` its backward pass built from the same kernel.
#[backend_extension(Flex, Autodiff)]
pub trait GemmMatmul: Backend {
    /// `a [M, K] · b [K, N]` → `[M, N]`; see [`linear`].
    fn gemm_matmul(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl GemmMatmul for Flex {
    fn gemm_matmul(a: FlexTensor, b: FlexTensor) -> FlexTensor {
        kernel::matmul(&a, false, &b, false)
    }
}

/// Backward of `c = a · b`: `da = dc · bᵀ`, `db = aᵀ · dc`.
#[derive(Debug)]
struct MatmulBackward;

impl Backward<Flex, 2> for MatmulBackward {
    type State = (NodeId, NodeId);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, ckpt: &mut Checkpointer) {
        let [node_a, node_b] = ops.parents;
        let dc = grads.consume::<Flex>(&ops.node);
        let (a_id, b_id) = ops.state;
        if let Some(node) = node_b {
            let a: FlexTensor = ckpt.retrieve_node_output(a_id);
            grads.register::<Flex>(node.id, kernel::matmul(&a, true, &dc, false));
        }
        if let Some(node) = node_a {
            let b: FlexTensor = ckpt.retrieve_node_output(b_id);
            grads.register::<Flex>(node.id, kernel::matmul(&dc, false, &b, true));
        }
    }
}

impl<C: CheckpointStrategy> GemmMatmul for Autodiff<Flex, C> {
    fn gemm_matmul(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        match MatmulBackward
            .prepare::<C>([a.node(), b.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let a_id = prep.checkpoint(&a);
                let b_id = prep.checkpoint(&b);
                let (a, b) = (a.into_primitive(), b.into_primitive());
                prep.finish((a_id, b_id), kernel::matmul(&a, false, &b, false))
            }
            OpsKind::UnTracked(prep) => {
                let (a, b) = (a.into_primitive(), b.into_primitive());
                prep.finish(kernel::matmul(&a, false, &b, false))
            }
        }
    }
}

/// The kernel on burn-flex tensors (other dtypes fall back to burn-flex's own `matmul`).
mod kernel {
    use super::*;
    use cpu_gemm::Real;
    use std::borrow::Cow;

    /// `op(a) · op(b)`, where `op` transposes the 2-D tensor when its flag is set.
    pub(super) fn matmul(a: &FlexTensor, ta: bool, b: &FlexTensor, tb: bool) -> FlexTensor {
        match common_dtype(&[a, b]) {
            Some(DType::F32) => matmul_t::<f32>(a, ta, b, tb),
            Some(DType::F64) => matmul_t::<f64>(a, ta, b, tb),
            _ => {
                let op = |t: &FlexTensor, tr: bool| {
                    if tr {
                        Flex::float_swap_dims(t.clone(), 0, 1)
                    } else {
                        t.clone()
                    }
                };
                Flex::float_matmul(op(a, ta), op(b, tb))
            }
        }
    }

    /// `op(t)` as a strided matrix: its `[rows, cols]`, the values from its first element on and
    /// its `(row, column)` strides. Transposed, expanded and narrowed views are read in place
    /// (copying a transposed weight cost a tenth of an MLP training step); only views with negative
    /// strides are copied.
    fn operand<T: Real>(
        t: &FlexTensor,
        transposed: bool,
    ) -> (Cow<'_, [T]>, [usize; 2], (usize, usize)) {
        let layout = t.layout();
        let (r, c, s0, s1) = layout
            .as_2d_strides()
            .expect("matmul operands are matrices");
        let (vals, strides) = match (usize::try_from(s0), usize::try_from(s1)) {
            (Ok(s0), Ok(s1)) => (
                Cow::Borrowed(&t.storage::<T>()[layout.start_offset()..]),
                (s0, s1),
            ),
            _ => (values::<T>(t), (c, 1)),
        };
        if transposed {
            (vals, [c, r], (strides.1, strides.0))
        } else {
            (vals, [r, c], strides)
        }
    }

    fn matmul_t<T: Real>(a: &FlexTensor, ta: bool, b: &FlexTensor, tb: bool) -> FlexTensor {
        let (va, [m, k], sa) = operand::<T>(a, ta);
        let (vb, [kb, n], sb) = operand::<T>(b, tb);
        assert_eq!(k, kb, "matmul: inner dimensions {k} and {kb} differ");
        tensor(product((m, n, k), &va, sa, &vb, sb), [m, n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu_gemm::test_util::{assert_close, randn as rand2};

    /// Shapes that take each path of the threaded product: one block, row blocks, column
    /// blocks (with a ragged last block), and a non-contiguous (transposed) input.
    #[test]
    fn matches_burn_linear() {
        let device = Device::flex();
        for [n, i, o] in [[3, 5, 7], [300, 40, 20], [64, 50, 301], [64, 784, 1]] {
            let x = rand2([n, i], &device);
            let w = rand2([i, o], &device);
            let b = rand2([1, o], &device).reshape([o]);
            let ours = linear(x.clone(), w.clone(), Some(b.clone()));
            let theirs = burn::tensor::module::linear(x, w, Some(b));
            assert_close(ours, theirs, &format!("linear {n}×{i} · {i}×{o}"));
        }
        let x = rand2([50, 70], &device).transpose();
        let w = rand2([50, 33], &device);
        let theirs = x.clone().matmul(w.clone());
        assert_close(linear(x, w, None), theirs, "transposed input");
    }

    /// Gradients of inputs, weights and biases against Burn's autodiff of its own `linear`,
    /// through two layers (so the first layer's input gradient is used).
    #[test]
    fn gradients_match_burn_autodiff() {
        let device = Device::flex().autodiff();
        let x0 = rand2([64, 40], &device);
        let w0 = rand2([40, 96], &device);
        let v0 = rand2([96, 3], &device);
        let b0 = rand2([1, 96], &device).reshape([96]);
        let run = |ours: bool| {
            let x = x0.clone().detach().require_grad();
            let w = w0.clone().detach().require_grad();
            let v = v0.clone().detach().require_grad();
            let b = b0.clone().detach().require_grad();
            let f = |x, w, b| {
                if ours {
                    linear(x, w, b)
                } else {
                    burn::tensor::module::linear(x, w, b)
                }
            };
            let h = f(x.clone(), w.clone(), Some(b.clone())).tanh();
            let loss = f(h, v.clone(), None).powf_scalar(2.0).sum();
            let grads = loss.backward();
            let b_grad = b.grad(&grads).expect("gradient").reshape([1, 96]);
            [x, w, v]
                .map(|t| t.grad(&grads).expect("gradient"))
                .into_iter()
                .chain([b_grad])
                .collect::<Vec<_>>()
        };
        let ours = run(true);
        let theirs = run(false);
        for (name, (a, b)) in ["x", "w", "v", "b"]
            .iter()
            .zip(ours.into_iter().zip(theirs))
        {
            assert_close(a, b, &format!("gradient of {name}"));
        }
    }
}

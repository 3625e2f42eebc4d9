//! What the CPU kernels ([`crate::kernels::conv_cpu`], [`crate::kernels::linear_cpu`]) share: the element types
//! they run in, pooled scratch buffers, conversions from and to burn-flex tensors, and strided
//! GEMMs (the `gemm` crate, which burn-flex uses too) with the threading done here.

use burn::backend::Element;
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::{DType, DispatchDevice};
use burn::prelude::*;
use gemm::Parallelism;
use rayon::prelude::*;
use std::sync::Mutex;

/// Whether `t` takes the GEMM kernels: it lives on the CPU backend (with or without autodiff), is
/// `f32` or `f64`, and the environment does not say `TINYGAN_CPU_GEMM=burn` (which selects
/// burn-flex's own convolutions and matmuls, for comparison: `tinygan bench` under both settings).
pub(crate) fn uses_gemm<const D: usize>(t: &Tensor<D>) -> bool {
    static BURN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let burn = *BURN.get_or_init(|| std::env::var("TINYGAN_CPU_GEMM").is_ok_and(|v| v == "burn"));
    let device = t.device().inner();
    !burn
        && matches!(device.as_dispatch(), DispatchDevice::Flex(_))
        && matches!(t.dtype(), DType::F32 | DType::F64)
}

/// An element type the kernels run in.
pub(crate) trait Real:
    Element + bytemuck::Pod + Default + std::ops::AddAssign + Send + Sync + 'static
{
    const DTYPE: DType;
    const ONE: Self;
    /// Scratch buffers for im2col matrices and GEMM outputs. Reusing them avoids fresh
    /// allocations whose first touch page-faults: with a fresh `Vec` the im2col of the critic's
    /// second layer cost as much as its GEMM.
    fn pool() -> &'static Mutex<Vec<Vec<Self>>>;
}

impl Real for f32 {
    const DTYPE: DType = DType::F32;
    const ONE: Self = 1.0;
    fn pool() -> &'static Mutex<Vec<Vec<Self>>> {
        static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());
        &POOL
    }
}

impl Real for f64 {
    const DTYPE: DType = DType::F64;
    const ONE: Self = 1.0;
    fn pool() -> &'static Mutex<Vec<Vec<Self>>> {
        static POOL: Mutex<Vec<Vec<f64>>> = Mutex::new(Vec::new());
        &POOL
    }
}

/// The tensor's values in row-major order (copies only when not already contiguous).
pub(crate) fn values<T: Real>(t: &FlexTensor) -> std::borrow::Cow<'_, [T]> {
    match t.as_slice::<T>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(
            t.to_contiguous()
                .as_slice::<T>()
                .expect("a contiguous tensor of the checked dtype")
                .to_vec(),
        ),
    }
}

/// A contiguous burn-flex tensor of `shape` holding `data`.
pub(crate) fn tensor<T: Real, const D: usize>(data: Vec<T>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::new(
        burn::tensor::Bytes::from_elems(data),
        Layout::contiguous(burn::tensor::Shape::new(shape)),
        T::DTYPE,
    )
}

/// The element type shared by `ts`, if the kernels support it.
pub(crate) fn common_dtype(ts: &[&FlexTensor]) -> Option<DType> {
    let d = ts[0].dtype();
    (ts.iter().all(|t| t.dtype() == d) && matches!(d, DType::F32 | DType::F64)).then_some(d)
}

/// A pooled buffer of `len` values with unspecified (but initialised) contents.
pub(crate) struct Scratch<T: Real>(Vec<T>);

impl<T: Real> Scratch<T> {
    /// Takes a pooled buffer (the smallest that holds `len` values, else the largest) or a new
    /// one, and sizes it to `len`.
    pub(crate) fn new(len: usize) -> Self {
        let reused = T::pool().lock().ok().and_then(|mut pool| {
            let cap = |i: &usize| pool[*i].capacity();
            let best = (0..pool.len())
                .filter(|i| cap(i) >= len)
                .min_by_key(cap)
                .or_else(|| (0..pool.len()).max_by_key(cap))?;
            Some(pool.swap_remove(best))
        });
        let mut v = reused.unwrap_or_default();
        if v.len() < len {
            v.resize(len, T::default());
        } else {
            v.truncate(len);
        }
        Scratch(v)
    }
}

impl<T: Real> Drop for Scratch<T> {
    fn drop(&mut self) {
        // Every task holds at most two buffers at once.
        if let Ok(mut pool) = T::pool().lock()
            && pool.len() < 2 * rayon::current_num_threads()
        {
            pool.push(std::mem::take(&mut self.0));
        }
    }
}

impl<T: Real> std::ops::Deref for Scratch<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: Real> std::ops::DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

/// `dst[m, n] = Σ_k lhs[m, k] · rhs[k, n]` (plus `dst`'s old value when `accumulate`), with
/// element `(i, j)` of an operand at `i·rs + j·cs`; `dst` is row-major `[m, n]`. Single-threaded:
/// the callers parallelise over independent blocks.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<T: Real>(
    dst: &mut [T],
    (m, n, k): (usize, usize, usize),
    lhs: &[T],
    lhs_strides: (usize, usize),
    rhs: &[T],
    rhs_strides: (usize, usize),
    accumulate: bool,
) {
    assert_eq!(dst.len(), m * n, "gemm destination size");
    // SAFETY: `dst` is exclusively borrowed and holds the whole `[m, n]` block.
    unsafe {
        gemm_into(
            dst.as_mut_ptr(),
            n,
            (m, n, k),
            lhs,
            lhs_strides,
            rhs,
            rhs_strides,
            accumulate,
        )
    }
}

/// [`matmul`] into a block of a larger row-major matrix: `dst` points at the block's first
/// element and rows are `dst_rs` apart.
///
/// # Safety
/// `dst` must be valid for writes at `i·dst_rs + j` for every `i < m`, `j < n`, and nothing else
/// may access those elements during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_into<T: Real>(
    dst: *mut T,
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: &[T],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[T],
    (rhs_rs, rhs_cs): (usize, usize),
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    assert!(lhs.len() >= last(m, k, lhs_rs, lhs_cs), "gemm lhs size");
    assert!(rhs.len() >= last(k, n, rhs_rs, rhs_cs), "gemm rhs size");
    // SAFETY: the asserts above keep every operand element the strides address inside the
    // slices; the caller vouches for `dst`, which cannot alias the shared operand slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// A raw pointer that may cross threads: each [`product`] task writes its own disjoint block.
#[derive(Clone, Copy)]
struct BlockPtr<T>(*mut T);
// SAFETY: used only for disjoint column blocks of one matrix, see `product`.
unsafe impl<T: Send> Send for BlockPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for BlockPtr<T> {}

impl<T> BlockPtr<T> {
    /// The pointer `offset` elements in (a method, so closures capture the whole `Send` wrapper).
    fn at(self, offset: usize) -> *mut T {
        self.0.wrapping_add(offset)
    }
}

/// Row-major `lhs · rhs` `[m, n]` for strided operands, on all threads: the longer of `m` and `n`
/// is split into one block per thread, each a single-threaded GEMM.
///
/// The `gemm` crate's own threading barely helps the fully connected layers' shapes (64 rows):
/// `[64, 1024] · [1024, 784]` ran at 77 GFLOP/s with it and 113 GFLOP/s as two column blocks.
pub(crate) fn product<T: Real>(
    (m, n, k): (usize, usize, usize),
    lhs: &[T],
    lhs_strides: (usize, usize),
    rhs: &[T],
    rhs_strides: (usize, usize),
) -> Vec<T> {
    let mut out = vec![T::default(); m * n];
    let blocks = (m.max(n) / 32).clamp(1, rayon::current_num_threads());
    if blocks == 1 || k == 0 {
        matmul(
            &mut out,
            (m, n, k),
            lhs,
            lhs_strides,
            rhs,
            rhs_strides,
            false,
        );
    } else if m >= n {
        let rows = m.div_ceil(blocks);
        out.par_chunks_mut(rows * n)
            .enumerate()
            .for_each(|(i, out)| {
                let lhs = &lhs[i * rows * lhs_strides.0..];
                let mb = out.len() / n;
                matmul(out, (mb, n, k), lhs, lhs_strides, rhs, rhs_strides, false);
            });
    } else {
        let cols = n.div_ceil(blocks).next_multiple_of(16);
        let dst = BlockPtr(out.as_mut_ptr());
        (0..n.div_ceil(cols)).into_par_iter().for_each(|j| {
            let j0 = j * cols;
            let nb = cols.min(n - j0);
            let rhs = &rhs[j0 * rhs_strides.1..];
            // SAFETY: block `j` writes columns `j0..j0 + nb` of the `[m, n]` buffer `out`, which
            // outlives the parallel loop; the blocks are disjoint.
            unsafe {
                gemm_into(
                    dst.at(j0),
                    n,
                    (m, nb, k),
                    lhs,
                    lhs_strides,
                    rhs,
                    rhs_strides,
                    false,
                )
            };
        });
    }
    out
}

/// Helpers for the kernels' tests: random tensors and a relative comparison.
#[cfg(test)]
pub(crate) mod test_util {
    use burn::prelude::*;
    use burn::tensor::Distribution;

    /// A standard-normal tensor of `shape`.
    pub(crate) fn randn<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    /// Asserts equal shapes and `max |a − b| ≤ 1e-4 · max(1, max |b|)`.
    pub(crate) fn assert_close<const D: usize>(a: Tensor<D>, b: Tensor<D>, what: &str) {
        assert_eq!(a.dims(), b.dims(), "{what}: shapes");
        let scale = b.clone().abs().max().into_scalar::<f64>().max(1.0);
        let diff = (a - b).abs().max().into_scalar::<f64>();
        assert!(
            diff <= 1e-4 * scale,
            "{what}: max |Δ| {diff} (scale {scale})"
        );
    }
}

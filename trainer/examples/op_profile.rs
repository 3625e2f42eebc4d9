//! Times the individual operations of one training iteration on the CPU backend, to see where the
//! time goes. `cargo run --release -p trainer --example op_profile`.
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::PadMode;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use std::time::Instant;

// ---- A 4×4 stride-2 convolution as space-to-depth → im2col → one GEMM on NHWC maps. ----
// Measured against burn-flex's own conv to see whether a GEMM formulation would close the gap to
// PyTorch: it does not (see the figures this example prints), because burn-flex's pad / permute /
// cat copies cost more than the GEMM itself.

/// A `[O, C, 4, 4]` kernel (Burn's conv layout) as the `[16·C, O]` matrix that [`conv4s2`]
/// multiplies with; rows are ordered `(dy, dx, py, px, c)`.
fn weight_matrix(w: Tensor<4>) -> Tensor<2> {
    let [o, c, kh, kw] = w.dims();
    assert_eq!((kh, kw), (4, 4), "conv4s2 needs a 4×4 kernel");
    // [o, c, ky, kx] = [o, c, dy, py, dx, px] → [dy, dx, py, px, c, o]
    w.reshape([o, c, 2, 2, 2, 2])
        .permute([2, 4, 3, 5, 1, 0])
        .reshape([16 * c, o])
}

/// The padded map `[B, H, W, C]` cut into 2×2 cells: `[B, H/2 + 1, W/2 + 1, 4·C]`, channels
/// ordered `(py, px, c)`.
fn space_to_depth(x: Tensor<4>) -> Tensor<4> {
    let [b, h, w, c] = x.dims();
    let (hp, wp) = (h / 2 + 1, w / 2 + 1);
    x.pad([(0, 0), (1, 1), (1, 1), (0, 0)], PadMode::Constant(0.0))
        .reshape([b, hp, 2, wp, 2, c])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([b, hp, wp, 4 * c])
}

/// Inverse of [`space_to_depth`] including the crop: `[B, H/2 + 1, W/2 + 1, 4·C]` → `[B, H, W, C]`.
fn depth_to_space(s: Tensor<4>) -> Tensor<4> {
    let [b, hp, wp, c4] = s.dims();
    let c = c4 / 4;
    s.reshape([b, hp, wp, 2, 2, c])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([b, 2 * hp, 2 * wp, c])
        .slice([0..b, 1..2 * hp - 1, 1..2 * wp - 1, 0..c])
}

const SHIFTS: [(usize, usize); 4] = [(0, 0), (0, 1), (1, 0), (1, 1)];

/// `conv2d(x, w, b, stride 2, padding 1)` for a 4×4 kernel on NHWC maps: `x` `[B, H, W, C]` with
/// even `H, W`, `w` from [`weight_matrix`]; returns `[B, H/2, W/2, O]`.
fn conv4s2(x: Tensor<4>, w: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let [b, h, wd, c] = x.dims();
    assert!(h % 2 == 0 && wd % 2 == 0, "conv4s2 needs even H and W");
    let o = w.dims()[1];
    let (ho, wo) = (h / 2, wd / 2);
    let cells = space_to_depth(x);
    let cols = Tensor::cat(
        SHIFTS
            .iter()
            .map(|&(dy, dx)| {
                cells
                    .clone()
                    .slice([0..b, dy..dy + ho, dx..dx + wo, 0..4 * c])
            })
            .collect(),
        3,
    );
    let mut y = cols.reshape([b * ho * wo, 16 * c]).matmul(w);
    if let Some(bias) = bias {
        y = y + bias.reshape([1, o]);
    }
    y.reshape([b, ho, wo, o])
}

/// The adjoint of [`conv4s2`] with the same kernel matrix: `conv_transpose2d(g, w, stride 2,
/// padding 1)` on NHWC maps, `g` `[B, H, W, O]` → `[B, 2H, 2W, C]`.
///
/// It is both the critic's input gradient (a transposed matmul followed by the adjoint of the
/// im2col gather) and the generator's upsampling layer, whose `[C_in, C_out, 4, 4]` kernel is a
/// conv kernel read the other way round: pass `weight_matrix(w)` and `bias` for `C_out`.
fn conv4s2_t(g: Tensor<4>, w: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let [b, h, wd, o] = g.dims();
    let c16 = w.dims()[0];
    let c4 = c16 / 4;
    let cols = g
        .reshape([b * h * wd, o])
        .matmul(w.transpose())
        .reshape([b, h, wd, c16]);
    let mut cells: Option<Tensor<4>> = None;
    for (k, &(dy, dx)) in SHIFTS.iter().enumerate() {
        let part = cols
            .clone()
            .slice([0..b, 0..h, 0..wd, k * c4..(k + 1) * c4])
            .pad(
                [(0, 0), (dy, 1 - dy), (dx, 1 - dx), (0, 0)],
                PadMode::Constant(0.0),
            );
        cells = Some(match cells {
            None => part,
            Some(acc) => acc + part,
        });
    }
    let y = depth_to_space(cells.expect("four shifts"));
    match bias {
        Some(bias) => {
            let c = c4 / 4;
            y + bias.reshape([1, 1, 1, c])
        }
        None => y,
    }
}

fn time<F: FnMut() -> f32>(name: &str, mut f: F) {
    for _ in 0..3 {
        f();
    }
    let n = 20;
    let t = Instant::now();
    let mut acc = 0.0;
    for _ in 0..n {
        acc += f();
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
    println!("{name:<48} {ms:8.3} ms  ({acc:.1e})");
}

fn main() {
    let dev = Device::flex();
    let r4 = |s: [usize; 4], d: &Device| Tensor::<4>::random(s, Distribution::Normal(0.0, 1.0), d);
    let b = 128;
    let copt = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
    let topt = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
    // critic conv1 and conv2, forward only
    let x1 = r4([b, 1, 28, 28], &dev);
    let w1 = r4([64, 1, 4, 4], &dev);
    let x2 = r4([b, 64, 14, 14], &dev);
    let w2 = r4([128, 64, 4, 4], &dev);
    time("conv2d 1->64 28->14 fwd", || {
        conv2d(x1.clone(), w1.clone(), None, copt.clone())
            .sum()
            .into_scalar::<f32>()
    });
    time("conv2d 64->128 14->7 fwd", || {
        conv2d(x2.clone(), w2.clone(), None, copt.clone())
            .sum()
            .into_scalar::<f32>()
    });
    let g2 = r4([b, 128, 7, 7], &dev);
    time("conv_t 128->64 7->14 (x-grad of conv2)", || {
        conv_transpose2d(g2.clone(), w2.clone(), None, topt.clone())
            .sum()
            .into_scalar::<f32>()
    });
    // weight grad of conv2 the way burn-backend does it
    time("conv2 weight grad (swapped conv)", || {
        let xs = x2.clone().swap_dims(0, 1);
        let gs = g2.clone().swap_dims(0, 1);
        conv2d(xs, gs, None, ConvOptions::new([1, 1], [1, 1], [2, 2], 1))
            .sum()
            .into_scalar::<f32>()
    });
    let ad = dev.clone().autodiff();
    let x2a = r4([b, 64, 14, 14], &ad).require_grad();
    let w2a = r4([128, 64, 4, 4], &ad).require_grad();
    time("conv2 fwd+bwd autodiff", || {
        let y = conv2d(x2a.clone(), w2a.clone(), None, copt.clone());
        let g = y.sum().backward();
        w2a.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    // the same conv as one GEMM on NHWC maps (trainer::conv)
    let x2h = r4([b, 14, 14, 64], &ad).require_grad();
    time("conv2 fwd+bwd autodiff, conv4s2 GEMM (NHWC)", || {
        let y = conv4s2(x2h.clone(), weight_matrix(w2a.clone()), None);
        let g = y.sum().backward();
        w2a.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    let g2h = r4([b, 7, 7, 128], &dev);
    let x1h = r4([b, 28, 28, 1], &dev);
    let w1d = w1.clone();
    let w2d = w2.clone();
    let x2hd = r4([b, 14, 14, 64], &dev);
    let diff = (conv4s2(x2hd.clone(), weight_matrix(w2d.clone()), None)
        - conv2d(
            x2hd.clone().permute([0, 3, 1, 2]),
            w2d.clone(),
            None,
            copt.clone(),
        )
        .permute([0, 2, 3, 1]))
    .abs()
    .max()
    .into_scalar::<f32>();
    let diff_t = (conv4s2_t(g2h.clone(), weight_matrix(w2d.clone()), None)
        - conv_transpose2d(
            g2h.clone().permute([0, 3, 1, 2]),
            w2d.clone(),
            None,
            topt.clone(),
        )
        .permute([0, 2, 3, 1]))
    .abs()
    .max()
    .into_scalar::<f32>();
    println!("conv4s2 vs conv2d max |diff| {diff:.1e}, conv4s2_t vs conv_transpose2d {diff_t:.1e}");
    assert!(
        diff < 1e-2 && diff_t < 1e-2,
        "the GEMM formulation must compute the same conv"
    );
    time("conv2 fwd, conv4s2 GEMM", || {
        conv4s2(x2hd.clone(), weight_matrix(w2d.clone()), None)
            .sum()
            .into_scalar::<f32>()
    });
    time("conv1 fwd, conv4s2 GEMM", || {
        conv4s2(x1h.clone(), weight_matrix(w1d.clone()), None)
            .sum()
            .into_scalar::<f32>()
    });
    time("conv2 x-grad, conv4s2_t GEMM", || {
        conv4s2_t(g2h.clone(), weight_matrix(w2d.clone()), None)
            .sum()
            .into_scalar::<f32>()
    });
    let w1a = r4([64, 1, 4, 4], &ad).require_grad();
    let x1a = r4([b, 1, 28, 28], &ad);
    time("conv1 fwd+bwd(w) autodiff, burn", || {
        let y = conv2d(x1a.clone(), w1a.clone(), None, copt.clone());
        let g = y.sum().backward();
        w1a.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    let x1ha = r4([b, 28, 28, 1], &ad);
    time("conv1 fwd+bwd(w) autodiff, conv4s2", || {
        let y = conv4s2(x1ha.clone(), weight_matrix(w1a.clone()), None);
        let g = y.sum().backward();
        w1a.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    let a = r4([b, 7, 7, 1024], &dev).reshape([b * 49, 1024]);
    let m = r4([1, 1, 1024, 128], &dev).reshape([1024, 128]);
    time("matmul [6272,1024]x[1024,128] (conv2's GEMM)", || {
        a.clone().matmul(m.clone()).sum().into_scalar::<f32>()
    });
    let big = r4([b, 64, 14, 14], &dev);
    time("leaky_relu 128x64x14x14", || {
        leaky_relu(big.clone(), 0.2).sum().into_scalar::<f32>()
    });
    let big2ad = r4([b, 64, 14, 14], &ad);
    let bigad = r4([b, 64, 14, 14], &ad).require_grad();
    time("leaky_relu fwd+bwd autodiff", || {
        let g = leaky_relu(bigad.clone(), 0.2)
            .mul(big2ad.clone())
            .sum()
            .backward();
        bigad.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    time("relu fwd+bwd autodiff", || {
        let g = burn::tensor::activation::relu(bigad.clone())
            .mul(big2ad.clone())
            .sum()
            .backward();
        bigad.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    time("x*mask(x) fwd+bwd autodiff", || {
        let x = bigad.clone();
        let m = x
            .clone()
            .detach()
            .greater_elem(0.0)
            .float()
            .mul_scalar(0.8)
            .add_scalar(0.2);
        let g = (x * m).mul(big2ad.clone()).sum().backward();
        bigad.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    time("max_pair(x, 0.2x) fwd+bwd autodiff", || {
        let x = bigad.clone();
        let g = x
            .clone()
            .max_pair(x.mul_scalar(0.2))
            .mul(big2ad.clone())
            .sum()
            .backward();
        bigad.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    time("relu*0.8 + 0.2x fwd+bwd autodiff", || {
        let x = bigad.clone();
        let y = burn::tensor::activation::relu(x.clone()).mul_scalar(0.8) + x.mul_scalar(0.2);
        let g = y.mul(big2ad.clone()).sum().backward();
        bigad.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    time("0.8x + 0.2x fwd+bwd autodiff", || {
        let x = bigad.clone();
        let g = (x.clone().mul_scalar(0.8) + x.mul_scalar(0.2))
            .mul(big2ad.clone())
            .sum()
            .backward();
        bigad.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    time("relu(x)*0.8 fwd+bwd autodiff", || {
        let x = bigad.clone();
        let g = burn::tensor::activation::relu(x)
            .mul_scalar(0.8)
            .mul(big2ad.clone())
            .sum()
            .backward();
        bigad.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    time("x*const fwd+bwd autodiff", || {
        let x = bigad.clone();
        let g = (x * big2ad.clone()).mul(big2ad.clone()).sum().backward();
        bigad.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    time("mask_where fwd only", || {
        let x = big.clone();
        let m = x.clone().lower_elem(0.0);
        x.clone()
            .mask_where(m, x.mul_scalar(0.2))
            .sum()
            .into_scalar::<f32>()
    });
    time("greater_elem.float fwd only", || {
        big.clone()
            .greater_elem(0.0)
            .float()
            .sum()
            .into_scalar::<f32>()
    });
    let big2 = r4([b, 64, 14, 14], &dev);
    time("add two tensors fwd", || {
        (big.clone() + big2.clone()).sum().into_scalar::<f32>()
    });
    time("mul two tensors fwd", || {
        (big.clone() * big2.clone()).sum().into_scalar::<f32>()
    });
    time("add same tensor fwd", || {
        (big.clone() + big.clone()).sum().into_scalar::<f32>()
    });
    time("mul_scalar fwd", || {
        big.clone().mul_scalar(0.3).sum().into_scalar::<f32>()
    });
    time("mul_scalar fwd+bwd autodiff", || {
        let g = bigad
            .clone()
            .mul_scalar(0.5)
            .mul(big2ad.clone())
            .sum()
            .backward();
        bigad.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    time("sum only 128x64x14x14", || {
        big.clone().sum().into_scalar::<f32>()
    });
    // generator (tiny, dcgan) conv_t
    let h1 = r4([64, 32, 7, 7], &dev);
    let u1 = r4([32, 16, 4, 4], &dev);
    time("tiny convT 32->16 7->14 fwd", || {
        conv_transpose2d(h1.clone(), u1.clone(), None, topt.clone())
            .sum()
            .into_scalar::<f32>()
    });
    let h1 = r4([64, 256, 7, 7], &dev);
    let u1 = r4([256, 128, 4, 4], &dev);
    time("dcgan convT 256->128 7->14 fwd", || {
        conv_transpose2d(h1.clone(), u1.clone(), None, topt.clone())
            .sum()
            .into_scalar::<f32>()
    });
    let h2 = r4([64, 128, 14, 14], &dev);
    let u2 = r4([128, 1, 4, 4], &dev);
    time("dcgan convT 128->1 14->28 fwd", || {
        conv_transpose2d(h2.clone(), u2.clone(), None, topt.clone())
            .sum()
            .into_scalar::<f32>()
    });
    let a = Tensor::<2>::random([128, 784], Distribution::Normal(0.0, 1.0), &dev);
    let m = Tensor::<2>::random([784, 512], Distribution::Normal(0.0, 1.0), &dev);
    time("matmul 128x784x512", || {
        a.clone().matmul(m.clone()).sum().into_scalar::<f32>()
    });
}

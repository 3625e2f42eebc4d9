//! Times every convolution of the conv presets on the CPU backend, `trainer::kernels::conv_cpu`
//! (im2col + GEMMs over chunks of the batch) against burn-flex's own, forward and forward + backward.
//! `cargo run --release -p trainer --example conv_profile [BATCH]` (default 128).
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use std::time::Instant;
use trainer::kernels::conv_cpu::{self, Geometry};

const GEOM: Geometry = Geometry {
    stride: 2,
    padding: 1,
};

/// Median milliseconds of `f` over 7 runs after 2 warm-ups.
fn median_ms<F: FnMut() -> f32>(mut f: F) -> f64 {
    for _ in 0..2 {
        std::hint::black_box(f());
    }
    let mut t: Vec<f64> = (0..7)
        .map(|_| {
            let s = Instant::now();
            std::hint::black_box(f());
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[3]
}

/// One layer: a convolution `[n, b, h, h] → [n, a, h/2, h/2]` with weight `[a, b, 4, 4]`, or the
/// transposed convolution of the same weight (`[n, a, h/2, h/2] → [n, b, h, h]`).
fn layer(name: &str, transpose: bool, n: usize, a: usize, b: usize, h: usize) {
    let device = Device::flex().autodiff();
    let (inp, out) = if transpose {
        ([n, a, h / 2, h / 2], [n, b, h, h])
    } else {
        ([n, b, h, h], [n, a, h / 2, h / 2])
    };
    let x = Tensor::<4>::random(inp, Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<4>::random([a, b, 4, 4], Distribution::Normal(0.0, 0.1), &device);
    let r = Tensor::<4>::random(out, Distribution::Normal(0.0, 1.0), &device);
    let ours = |x: Tensor<4>, w: Tensor<4>| {
        if transpose {
            conv_cpu::conv_transpose2d(x, w, GEOM)
        } else {
            conv_cpu::conv2d(x, w, GEOM)
        }
    };
    let burn = |x: Tensor<4>, w: Tensor<4>| {
        if transpose {
            let o = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
            conv_transpose2d(x, w, None, o)
        } else {
            conv2d(x, w, None, ConvOptions::new([2, 2], [1, 1], [1, 1], 1))
        }
    };
    let fwd = |f: &dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>| {
        median_ms(|| {
            f(x.clone().detach(), w.clone().detach())
                .sum()
                .into_scalar::<f32>()
        })
    };
    let fwd_bwd = |f: &dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>| {
        median_ms(|| {
            let xi = x.clone().detach().require_grad();
            let wi = w.clone().detach().require_grad();
            let g = (f(xi.clone(), wi.clone()) * r.clone()).sum().backward();
            let gx = xi.grad(&g).expect("x grad").sum().into_scalar::<f32>();
            gx + wi.grad(&g).expect("w grad").sum().into_scalar::<f32>()
        })
    };
    let (of, bf) = (fwd(&ours), fwd(&burn));
    let (ob, bb) = (fwd_bwd(&ours), fwd_bwd(&burn));
    println!(
        "{name:<28} fwd {of:7.2} ms vs {bf:7.2} ms ({:4.2}x)   fwd+bwd {ob:7.2} ms vs {bb:7.2} ms ({:4.2}x)",
        bf / of,
        bb / ob
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("BATCH must be a number"))
        .unwrap_or(128);
    println!("batch {n}; conv_cpu vs burn-flex (median of 7; speed-up in parentheses)");
    layer("critic conv1 1->64 28->14", false, n, 64, 1, 28);
    layer("critic conv2 64->128 14->7", false, n, 128, 64, 14);
    layer("tiny up1 32->16 7->14", true, n, 32, 16, 14);
    layer("tiny up2 16->1 14->28", true, n, 16, 1, 28);
    layer("dcgan up1 256->128 7->14", true, n, 256, 128, 14);
    layer("dcgan up2 128->1 14->28", true, n, 128, 1, 28);
}

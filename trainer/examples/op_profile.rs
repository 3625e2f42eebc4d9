//! Times the individual operations of one training iteration on the CPU backend, to see where the
//! time goes. `cargo run --release -p trainer --example op_profile`.
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use std::time::Instant;

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

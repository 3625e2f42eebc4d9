//! Runs the operations of one `tiny` training step on the CPU backend and on wgpu with the same
//! inputs, and prints the largest difference of each (forward value and gradient), to find which
//! op misbehaves on a given adapter. `wgpu_ops_check` (needs the `wgpu` feature).

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{relu, softplus, tanh};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use trainer::device::{DeviceChoice, choose};
use trainer::model::lrelu;

type Op = fn(Tensor<4>, Tensor<4>) -> Tensor<4>;

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap_or_default()
}

fn compare(name: &str, a: &[f32], b: &[f32]) {
    let nan = b.iter().filter(|v| !v.is_finite()).count();
    let d = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    let scale = a.iter().map(|x| x.abs()).fold(0.0f32, f32::max).max(1e-12);
    let flag = if nan > 0 || d / scale > 1e-3 {
        "  <-- MISMATCH"
    } else {
        ""
    };
    println!(
        "{name:<34} max|Δ| {d:10.3e}  rel {:9.2e}  non-finite {nan}{flag}",
        d / scale
    );
}

fn main() -> anyhow::Result<()> {
    let gpu = choose(DeviceChoice::Wgpu)?;
    println!("comparing burn-flex with {}", gpu.description);
    let cpu = Device::flex();
    let x_shape = [16, 64, 14, 14];
    let w_shape = [128, 64, 4, 4];
    let x = Tensor::<4>::random(x_shape, Distribution::Normal(0.0, 1.0), &cpu);
    let w = Tensor::<4>::random(w_shape, Distribution::Normal(0.0, 0.1), &cpu);
    let ops: [(&str, Op); 8] = [
        ("conv2d k4 s2 p1", |x, w| {
            conv2d(x, w, None, ConvOptions::new([2, 2], [1, 1], [1, 1], 1))
        }),
        ("conv_transpose2d k4 s2 p1", |x, w| {
            let g = conv2d(
                x,
                w.clone(),
                None,
                ConvOptions::new([2, 2], [1, 1], [1, 1], 1),
            );
            conv_transpose2d(
                g,
                w,
                None,
                ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1),
            )
        }),
        ("relu", |x, _| relu(x)),
        ("lrelu (0.8 relu + 0.2 x)", |x, _| lrelu(x)),
        ("tanh", |x, _| tanh(x)),
        ("softplus", |x, _| softplus(x, 1.0)),
        ("greater_elem mask", |x, _| x.greater_elem(0.0).float()),
        ("sum_dim + sqrt", |x, _| {
            x.square().sum_dim(3).add_scalar(1e-12).sqrt()
        }),
    ];
    for (name, op) in ops {
        // Forward on both devices.
        let a = to_vec(op(x.clone(), w.clone()));
        let b = to_vec(op(
            x.clone().to_device(&gpu.device),
            w.clone().to_device(&gpu.device),
        ));
        compare(&format!("{name} (forward)"), &a, &b);
        // Gradient of a weighted sum with respect to x.
        let grad = |dev: &Device| {
            let ad = dev.clone().autodiff();
            let xa = x.clone().to_device(&ad).require_grad();
            let wa = w.clone().to_device(&ad);
            let y = op(xa.clone(), wa);
            let r = Tensor::<4>::ones(y.dims(), &ad).mul_scalar(0.5);
            let g = (y * r).sum().backward();
            to_vec(xa.grad(&g).expect("x has a gradient"))
        };
        compare(
            &format!("{name} (gradient)"),
            &grad(&cpu),
            &grad(&gpu.device),
        );
    }
    Ok(())
}

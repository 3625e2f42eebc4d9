//! Runs the operations of one `tiny` training step on the CPU backend and on wgpu with the same
//! inputs, and prints the largest difference of each (forward value and gradient), to find which
//! op misbehaves on a given adapter. `wgpu_ops_check` (needs the `wgpu` feature).

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{relu, softplus, tanh};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use trainer::config::TrainConfig;
use trainer::data::TrainData;
use trainer::device::{DeviceChoice, choose};
use trainer::model::{Preset, lrelu};
use trainer::objective::Loss;
use trainer::train::Trainer;

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
    let args: Vec<String> = std::env::args().collect();
    // `--exclusive-pages`: one buffer per allocation instead of cubecl's default adaptive pool
    // (which sub-allocates and relocates); `--vulkan`: pin the graphics API.
    let gpu = if args
        .iter()
        .any(|a| a == "--exclusive-pages" || a == "--vulkan")
    {
        use burn::tensor::wgpu::{MemoryConfiguration, WgpuBackend};
        let mut opts = Device::wgpu_options();
        if args.iter().any(|a| a == "--exclusive-pages") {
            opts = opts.memory_config(MemoryConfiguration::ExclusivePages);
        }
        if args.iter().any(|a| a == "--vulkan") {
            opts = opts.graphics_api(WgpuBackend::Vulkan);
        }
        let device = opts.init().map_err(|e| anyhow::anyhow!("wgpu init: {e}"))?;
        println!("options: {:?}", &args[1..]);
        device
    } else {
        choose(DeviceChoice::Wgpu)?.device
    };
    println!("comparing burn-flex with wgpu {:?}", gpu.identity());
    let cpu = Device::flex();
    let x_shape = [16, 64, 14, 14];
    let w_shape = [128, 64, 4, 4];
    let x = Tensor::<4>::random(x_shape, Distribution::Normal(0.0, 1.0), &cpu);
    let w = Tensor::<4>::random(w_shape, Distribution::Normal(0.0, 0.1), &cpu);
    let only_steps = args.iter().any(|a| a == "--steps-only");
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
    for (name, op) in ops.into_iter().filter(|_| !only_steps) {
        // Forward on both devices.
        let a = to_vec(op(x.clone(), w.clone()));
        let b = to_vec(op(x.clone().to_device(&gpu), w.clone().to_device(&gpu)));
        compare(&format!("{name} (forward)"), &a, &b);
        if name.contains("mask") {
            continue; // a comparison has no gradient
        }
        // Gradient of a weighted sum with respect to x.
        let grad = |dev: &Device| {
            let ad = dev.clone().autodiff();
            let xa = Tensor::<4>::from_data(x.to_data(), &ad).require_grad();
            let wa = Tensor::<4>::from_data(w.to_data(), &ad);
            let y = op(xa.clone(), wa);
            let r = Tensor::<4>::ones(y.dims(), &ad).mul_scalar(0.5);
            let g = (y * r).sum().backward();
            to_vec(xa.grad(&g).expect("x has a gradient"))
        };
        compare(&format!("{name} (gradient)"), &grad(&cpu), &grad(&gpu));
    }
    conv_weight_grads(&cpu, &gpu);
    adam_step(&cpu, &gpu);
    batch_norm(&cpu, &gpu);
    one_training_step(&gpu)?;
    Ok(())
}

/// Weight gradients of the critic's two convolutions (Burn computes them as a convolution with
/// batch and channels swapped and the output gradient as a dilated kernel), three times each.
fn conv_weight_grads(cpu: &Device, gpu: &Device) {
    for (name, xs, ws) in [
        (
            "conv1 ∇w [16,1,28,28]*[64,1,4,4]",
            [16, 1, 28, 28],
            [64, 1, 4, 4],
        ),
        (
            "conv2 ∇w [16,64,14,14]*[128,64,4,4]",
            [16, 64, 14, 14],
            [128, 64, 4, 4],
        ),
    ] {
        let xv: Vec<f32> = (0..xs.iter().product::<usize>())
            .map(|i| ((i * 29 % 89) as f32 - 44.0) * 0.02)
            .collect();
        let wv: Vec<f32> = (0..ws.iter().product::<usize>())
            .map(|i| ((i * 13 % 61) as f32 - 30.0) * 0.01)
            .collect();
        let run = |dev: &Device| {
            let ad = dev.clone().autodiff();
            let mut out = Vec::new();
            for _ in 0..3 {
                let x = Tensor::<4>::from_data(TensorData::new(xv.clone(), xs), &ad);
                let w = Tensor::<4>::from_data(TensorData::new(wv.clone(), ws), &ad).require_grad();
                let y = conv2d(
                    x,
                    w.clone(),
                    None,
                    ConvOptions::new([2, 2], [1, 1], [1, 1], 1),
                );
                let g = y.sum().backward();
                out.extend(to_vec(w.grad(&g).expect("w gradient")));
            }
            out
        };
        compare(name, &run(cpu), &run(gpu));
    }
}

/// One Adam step on a linear layer with the same weights and gradient on both devices.
fn adam_step(cpu: &Device, gpu: &Device) {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamConfig, GradientsParams};
    let w: Vec<f32> = (0..64 * 32)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.01)
        .collect();
    let run = |dev: &Device| {
        let ad = dev.clone().autodiff();
        let mut l: Linear = LinearConfig::new(64, 32).init(&ad);
        l.weight = l.weight.map(|_| {
            Tensor::<2>::from_data(TensorData::new(w.clone(), [64, 32]), &ad).require_grad()
        });
        l.bias = l
            .bias
            .map(|b| b.map(|_| Tensor::<1>::zeros([32], &ad).require_grad()));
        let mut opt = AdamConfig::new().with_beta_1(0.5).with_beta_2(0.9).init();
        let mut out = Vec::new();
        for _ in 0..3 {
            let x = Tensor::<2>::from_data(TensorData::new(w[..16 * 64].to_vec(), [16, 64]), &ad);
            let loss = l.forward(x).square().mean();
            let grads = GradientsParams::from_grads(loss.backward(), &l);
            l = opt.step(1e-3, l, grads);
            out.extend(to_vec(l.weight.val()));
        }
        out
    };
    compare("3 Adam steps (linear 64→32)", &run(cpu), &run(gpu));
}

/// Batch norm in training mode: output and updated running statistics.
fn batch_norm(cpu: &Device, gpu: &Device) {
    use burn::nn::BatchNormConfig;
    let x: Vec<f32> = (0..16 * 32 * 7 * 7)
        .map(|i| ((i * 53 % 97) as f32 - 48.0) * 0.05)
        .collect();
    let run = |dev: &Device| {
        let ad = dev.clone().autodiff();
        let bn = BatchNormConfig::new(32).init(&ad);
        let xt =
            Tensor::<4>::from_data(TensorData::new(x.clone(), [16, 32, 7, 7]), &ad).require_grad();
        let y = bn.forward(xt.clone());
        let g = y.clone().mul_scalar(0.3).sum().backward();
        let mut out = to_vec(y);
        out.extend(to_vec(bn.running_var.value()));
        out.extend(to_vec(xt.grad(&g).expect("x gradient")));
        out
    };
    compare(
        "batch norm (train: y, running var, ∇x)",
        &run(cpu),
        &run(gpu),
    );
}

/// One real training step of `tiny` on the adapter; then which parameters are not finite.
fn one_training_step(gpu: &Device) -> anyhow::Result<()> {
    let data = TrainData::Images {
        images: (0..64 * 784).map(|i| (i * 31 % 256) as u8).collect(),
        labels: (0..64).map(|i| (i % 10) as u8).collect(),
    };
    let cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::NsGan).with_batch(16);
    let mut t = Trainer::new(cfg, gpu, data)?;
    let scan = |t: &Trainer, when: &str| {
        struct Scan(Vec<String>, usize);
        impl burn::module::ModuleVisitor for Scan {
            fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
                let v = to_vec(p.val());
                let bad = v.iter().filter(|x| !x.is_finite()).count();
                if bad > 0 {
                    self.0.push(format!(
                        "param #{} {:?}: {bad} non-finite",
                        self.1,
                        p.val().dims()
                    ));
                }
                self.1 += 1;
            }
        }
        for (name, bad) in [
            ("generator", {
                let mut s = Scan(Vec::new(), 0);
                burn::module::Module::visit(&t.generator, &mut s);
                s.0
            }),
            ("critic", {
                let mut s = Scan(Vec::new(), 0);
                burn::module::Module::visit(&t.critic, &mut s);
                s.0
            }),
        ] {
            println!(
                "{when}: {name}: {}",
                if bad.is_empty() {
                    "all finite".into()
                } else {
                    bad.join("; ")
                }
            );
        }
    };
    scan(&t, "after init");
    for i in 1..=3 {
        let r = t.step();
        println!("step {i}: {:?}", r.as_ref().map(|s| (s.d_loss, s.g_loss)));
        scan(&t, &format!("after step {i}"));
        if r.is_err() {
            break;
        }
    }
    Ok(())
}

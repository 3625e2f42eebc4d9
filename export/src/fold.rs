//! From a [`GeneratorSpec`] to a validated chain of fused layers (batch norm folded, activation
//! attached, reshapes resolved), plus the plain-Rust float kernels shared by the reference pass
//! and calibration.

use crate::ExportError;
use crate::spec::{GeneratorSpec, Layer};

/// Activation attached to a fused layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Act {
    Identity,
    Relu,
    Leaky(f32),
    Tanh,
}

impl Act {
    pub(crate) fn apply(self, v: f32) -> f32 {
        match self {
            Act::Identity => v,
            Act::Relu => v.max(0.0),
            Act::Leaky(a) => {
                if v < 0.0 {
                    v * a
                } else {
                    v
                }
            }
            Act::Tanh => v.tanh(),
        }
    }
}

/// Compute part of a fused layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    /// `in_features` counts every input column (z and, for the first layer of a conditional
    /// model, the one-hot label columns).
    Dense {
        in_features: usize,
        out_features: usize,
    },
    ConvT {
        cin: usize,
        cout: usize,
        k: usize,
        s: usize,
        p: usize,
    },
}

/// A compute layer with batch norm folded in and its activation attached. Tensors are in the
/// spec's (ONNX) layouts; shapes are `[C, H, W]` in the spec's CHW order.
#[derive(Clone, Debug)]
pub(crate) struct Fused {
    pub kind: Kind,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub act: Act,
    pub in_shape: [usize; 3],
    pub out_shape: [usize; 3],
}

impl Fused {
    pub(crate) fn out_channels(&self) -> usize {
        match self.kind {
            Kind::Dense { out_features, .. } => out_features,
            Kind::ConvT { cout, .. } => cout,
        }
    }
}

fn bad(msg: impl Into<String>) -> ExportError {
    ExportError::InvalidSpec(msg.into())
}

fn len(s: [usize; 3]) -> usize {
    s[0] * s[1] * s[2]
}

fn check_len(what: &str, v: &[f32], n: usize) -> Result<(), ExportError> {
    if v.len() != n {
        return Err(bad(format!("{what} has {} values, expected {n}", v.len())));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(bad(format!("{what} contains a non-finite value")));
    }
    Ok(())
}

/// Validates the spec and folds it into fused layers.
// Index loops: the folding walks several parallel per-channel arrays at once.
#[allow(clippy::needless_range_loop)]
pub(crate) fn fuse(spec: &GeneratorSpec) -> Result<Vec<Fused>, ExportError> {
    if spec.z_dim == 0 {
        return Err(bad("z_dim is 0"));
    }
    if spec.num_classes > 256 {
        return Err(bad("more than 256 classes"));
    }
    let mut shape = [spec.z_dim + spec.num_classes, 1, 1];
    let mut ops: Vec<Fused> = Vec::new();
    // Whether the last op already has its activation (no more BN may fold into it).
    let mut activated = false;
    for (i, layer) in spec.layers.iter().enumerate() {
        let at = |m: &str| bad(format!("layer {i}: {m}"));
        match layer {
            Layer::Dense {
                in_features,
                out_features,
                weight,
                bias,
            } => {
                if *in_features != len(shape) || *in_features == 0 || *out_features == 0 {
                    return Err(at(&format!(
                        "dense expects {in_features} inputs but receives {shape:?}"
                    )));
                }
                check_len("dense weight", weight, in_features * out_features)?;
                check_len("dense bias", bias, *out_features)?;
                ops.push(Fused {
                    kind: Kind::Dense {
                        in_features: *in_features,
                        out_features: *out_features,
                    },
                    weight: weight.clone(),
                    bias: bias.clone(),
                    act: Act::Identity,
                    in_shape: shape,
                    out_shape: [*out_features, 1, 1],
                });
                shape = [*out_features, 1, 1];
                activated = false;
            }
            Layer::ConvTranspose2d {
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
                weight,
                bias,
            } => {
                let (k, s, p) = (*kernel, *stride, *padding);
                if shape[0] != *in_channels || *in_channels == 0 || *out_channels == 0 {
                    return Err(at(&format!(
                        "transposed conv expects {in_channels} channels but receives {shape:?}"
                    )));
                }
                if k == 0 || s == 0 || p >= k || k.div_ceil(s) > runtime_nostd::format::MAX_TAPS {
                    return Err(at("unsupported kernel / stride / padding"));
                }
                let oh = (shape[1] - 1) * s + k;
                let ow = (shape[2] - 1) * s + k;
                if oh <= 2 * p || ow <= 2 * p {
                    return Err(at("padding leaves no output"));
                }
                check_len("conv weight", weight, in_channels * out_channels * k * k)?;
                check_len("conv bias", bias, *out_channels)?;
                let out = [*out_channels, oh - 2 * p, ow - 2 * p];
                ops.push(Fused {
                    kind: Kind::ConvT {
                        cin: *in_channels,
                        cout: *out_channels,
                        k,
                        s,
                        p,
                    },
                    weight: weight.clone(),
                    bias: bias.clone(),
                    act: Act::Identity,
                    in_shape: shape,
                    out_shape: out,
                });
                shape = out;
                activated = false;
            }
            Layer::BatchNorm {
                num_features,
                gamma,
                beta,
                running_mean,
                running_var,
                eps,
            } => {
                let Some(op) = ops.last_mut() else {
                    return Err(at(
                        "batch norm before any dense / conv layer cannot be folded",
                    ));
                };
                if activated {
                    return Err(at("batch norm after an activation cannot be folded"));
                }
                if *num_features != shape[0] {
                    return Err(at(&format!(
                        "batch norm over {num_features} features but the input is {shape:?}"
                    )));
                }
                for (n, v) in [
                    ("gamma", gamma),
                    ("beta", beta),
                    ("running_mean", running_mean),
                    ("running_var", running_var),
                ] {
                    check_len(n, v, *num_features)?;
                }
                if !eps.is_finite() || running_var.iter().any(|&v| v as f64 + (*eps as f64) <= 0.0)
                {
                    return Err(at("batch norm variance + eps must be positive"));
                }
                let per_channel = shape[1] * shape[2];
                let scale: Vec<f64> = (0..*num_features)
                    .map(|c| gamma[c] as f64 / (running_var[c] as f64 + *eps as f64).sqrt())
                    .collect();
                // Index of the BN feature each output of the op belongs to.
                let feature_of = |o: usize| o / per_channel;
                match op.kind {
                    Kind::Dense {
                        in_features,
                        out_features,
                    } => {
                        for o in 0..out_features {
                            let c = feature_of(o);
                            let sc = scale[c];
                            for w in &mut op.weight[o * in_features..(o + 1) * in_features] {
                                *w = (*w as f64 * sc) as f32;
                            }
                            op.bias[o] = ((op.bias[o] as f64 - running_mean[c] as f64) * sc
                                + beta[c] as f64) as f32;
                        }
                    }
                    Kind::ConvT { cin, cout, k, .. } => {
                        for ci in 0..cin {
                            for o in 0..cout {
                                let at = (ci * cout + o) * k * k;
                                for w in &mut op.weight[at..at + k * k] {
                                    *w = (*w as f64 * scale[o]) as f32;
                                }
                            }
                        }
                        for o in 0..cout {
                            op.bias[o] = ((op.bias[o] as f64 - running_mean[o] as f64) * scale[o]
                                + beta[o] as f64) as f32;
                        }
                    }
                }
            }
            Layer::Reshape {
                channels,
                height,
                width,
            } => {
                let new = [*channels, *height, *width];
                if len(new) != len(shape) || new.contains(&0) {
                    return Err(at(&format!("cannot reshape {shape:?} into {new:?}")));
                }
                let Some(op) = ops.last_mut() else {
                    return Err(at("reshape of the input is not supported"));
                };
                // Only a dense output can be re-laid freely (its rows are permuted at export);
                // a map with one channel or 1x1 pixels keeps its memory order.
                let trivial = |s: [usize; 3]| s[0] == 1 || s[1] * s[2] == 1;
                let relayable =
                    matches!(op.kind, Kind::Dense { .. }) || (trivial(shape) && trivial(new));
                if !relayable {
                    return Err(at("reshape of a convolution output is not supported"));
                }
                op.out_shape = new;
                shape = new;
            }
            Layer::Relu | Layer::LeakyRelu { .. } | Layer::Tanh => {
                let Some(op) = ops.last_mut() else {
                    return Err(at("activation of the input is not supported"));
                };
                if activated {
                    return Err(at("two activations in a row are not supported"));
                }
                op.act = match layer {
                    Layer::Relu => Act::Relu,
                    Layer::LeakyRelu { alpha } if alpha.is_finite() => Act::Leaky(*alpha),
                    Layer::LeakyRelu { .. } => return Err(at("non-finite LeakyReLU slope")),
                    _ => Act::Tanh,
                };
                activated = true;
            }
        }
    }
    let n = ops.len();
    if n == 0 {
        return Err(bad("no dense or transposed-conv layer"));
    }
    if n > runtime_nostd::format::MAX_LAYERS {
        return Err(bad(format!(
            "{n} compute layers, the runtime supports at most {}",
            runtime_nostd::format::MAX_LAYERS
        )));
    }
    for (i, op) in ops.iter().enumerate() {
        if (op.act == Act::Tanh) != (i + 1 == n) {
            return Err(bad(
                "tanh must be the activation of the last layer, and only of the last layer",
            ));
        }
        if len(op.in_shape) > runtime_nostd::MAX_ACTIVATION as usize
            || len(op.out_shape) > runtime_nostd::MAX_ACTIVATION as usize
        {
            return Err(bad(format!(
                "layer {i}: activation too large for the runtime"
            )));
        }
    }
    if spec.num_classes > 0 && !matches!(ops[0].kind, Kind::Dense { .. }) {
        return Err(bad("a conditional model needs a dense first layer"));
    }
    let last = ops.last_mut().expect("n > 0");
    let flat_dense = matches!(last.kind, Kind::Dense { .. }) && len(last.out_shape) == 784;
    if !flat_dense && last.out_shape != [1, 28, 28] {
        return Err(bad(format!(
            "the output is {:?}, expected a [1, 28, 28] image",
            last.out_shape
        )));
    }
    last.out_shape = [1, 28, 28];
    Ok(ops)
}

/// `y = W x + b` for one sample (`W` is `[out][in]`), f64 accumulation.
pub(crate) fn dense_f(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    let n = x.len();
    for ((y, row), &bias) in out.iter_mut().zip(w.chunks_exact(n)).zip(b) {
        let acc: f64 = row.iter().zip(x).map(|(&a, &v)| a as f64 * v as f64).sum();
        *y = (acc + bias as f64) as f32;
    }
}

/// ONNX `ConvTranspose` for one sample in CHW (`w` is `[cin][cout][k][k]`), f64 accumulation.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_t_f(
    x: &[f32],
    [cin, h, wd]: [usize; 3],
    w: &[f32],
    b: &[f32],
    cout: usize,
    k: usize,
    s: usize,
    p: usize,
    out: &mut [f32],
) {
    let oh = (h - 1) * s + k - 2 * p;
    let ow = (wd - 1) * s + k - 2 * p;
    let mut acc = vec![0f64; cout * oh * ow];
    for ci in 0..cin {
        for iy in 0..h {
            for ix in 0..wd {
                let v = x[(ci * h + iy) * wd + ix] as f64;
                if v == 0.0 {
                    continue;
                }
                for o in 0..cout {
                    let wk = &w[(ci * cout + o) * k * k..][..k * k];
                    for ky in 0..k {
                        let Some(oy) = (iy * s + ky).checked_sub(p).filter(|&y| y < oh) else {
                            continue;
                        };
                        for kx in 0..k {
                            let Some(ox) = (ix * s + kx).checked_sub(p).filter(|&x| x < ow) else {
                                continue;
                            };
                            acc[(o * oh + oy) * ow + ox] += v * wk[ky * k + kx] as f64;
                        }
                    }
                }
            }
        }
    }
    for (o, chunk) in acc.chunks_exact(oh * ow).enumerate() {
        for (y, a) in out[o * oh * ow..(o + 1) * oh * ow].iter_mut().zip(chunk) {
            *y = (a + b[o] as f64) as f32;
        }
    }
}

/// Runs the fused layers on one input vector (z followed by the one-hot label), returning every
/// layer's output (after its activation).
pub(crate) fn forward_fused(ops: &[Fused], input: &[f32]) -> Vec<Vec<f32>> {
    let mut outs: Vec<Vec<f32>> = Vec::with_capacity(ops.len());
    for op in ops {
        let x: &[f32] = outs.last().map_or(input, |v| v.as_slice());
        let mut y = vec![0f32; len(op.out_shape)];
        match op.kind {
            Kind::Dense { .. } => dense_f(x, &op.weight, &op.bias, &mut y),
            Kind::ConvT { cout, k, s, p, .. } => {
                conv_t_f(x, op.in_shape, &op.weight, &op.bias, cout, k, s, p, &mut y)
            }
        }
        y.iter_mut().for_each(|v| *v = op.act.apply(*v));
        outs.push(y);
    }
    outs
}

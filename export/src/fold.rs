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

/// An error about layer `i` of the spec.
fn at(i: usize, msg: &str) -> ExportError {
    bad(format!("layer {i}: {msg}"))
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
pub(crate) fn fuse(spec: &GeneratorSpec) -> Result<Vec<Fused>, ExportError> {
    if spec.z_dim == 0 {
        return Err(bad("z_dim is 0"));
    }
    if spec.num_classes > 256 {
        return Err(bad("more than 256 classes"));
    }
    let mut folder = Folder {
        shape: [spec.z_dim + spec.num_classes, 1, 1],
        ops: Vec::new(),
        activated: false,
    };
    for (i, layer) in spec.layers.iter().enumerate() {
        folder.add(i, layer)?;
    }
    let mut ops = folder.ops;
    check_chain(&ops, spec.num_classes)?;
    // `check_chain` checked that the output is the image, as a map or as 784 features.
    if let Some(last) = ops.last_mut() {
        last.out_shape = [1, 28, 28];
    }
    Ok(ops)
}

/// The spec folded so far.
struct Folder {
    /// Shape of the last output.
    shape: [usize; 3],
    ops: Vec<Fused>,
    /// Whether the last op already has its activation (no more BN may fold into it).
    activated: bool,
}

impl Folder {
    /// Folds layer `i` of the spec.
    fn add(&mut self, i: usize, layer: &Layer) -> Result<(), ExportError> {
        match layer {
            Layer::Dense {
                in_features,
                out_features,
                weight,
                bias,
            } => self.dense(i, *in_features, *out_features, weight, bias),
            Layer::ConvTranspose2d {
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
                weight,
                bias,
            } => {
                let kind = Kind::ConvT {
                    cin: *in_channels,
                    cout: *out_channels,
                    k: *kernel,
                    s: *stride,
                    p: *padding,
                };
                self.conv_t(i, kind, weight, bias)
            }
            Layer::BatchNorm {
                num_features,
                gamma,
                beta,
                running_mean,
                running_var,
                eps,
            } => {
                let bn = Bn {
                    num_features: *num_features,
                    gamma,
                    beta,
                    running_mean,
                    running_var,
                    eps: *eps,
                };
                self.batch_norm(i, &bn)
            }
            Layer::Reshape {
                channels,
                height,
                width,
            } => self.reshape(i, [*channels, *height, *width]),
            Layer::Relu | Layer::LeakyRelu { .. } | Layer::Tanh => self.activation(i, layer),
        }
    }

    fn push(&mut self, op: Fused) {
        self.shape = op.out_shape;
        self.ops.push(op);
        self.activated = false;
    }

    fn dense(
        &mut self,
        i: usize,
        in_features: usize,
        out_features: usize,
        weight: &[f32],
        bias: &[f32],
    ) -> Result<(), ExportError> {
        let shape = self.shape;
        if in_features != len(shape) || in_features == 0 || out_features == 0 {
            return Err(at(
                i,
                &format!("dense expects {in_features} inputs but receives {shape:?}"),
            ));
        }
        check_len("dense weight", weight, in_features * out_features)?;
        check_len("dense bias", bias, out_features)?;
        self.push(Fused {
            kind: Kind::Dense {
                in_features,
                out_features,
            },
            weight: weight.to_vec(),
            bias: bias.to_vec(),
            act: Act::Identity,
            in_shape: shape,
            out_shape: [out_features, 1, 1],
        });
        Ok(())
    }

    fn conv_t(
        &mut self,
        i: usize,
        kind: Kind,
        weight: &[f32],
        bias: &[f32],
    ) -> Result<(), ExportError> {
        let Kind::ConvT { cin, cout, k, s, p } = kind else {
            unreachable!("called with a transposed convolution")
        };
        let shape = self.shape;
        if shape[0] != cin || cin == 0 || cout == 0 {
            return Err(at(
                i,
                &format!("transposed conv expects {cin} channels but receives {shape:?}"),
            ));
        }
        if k == 0 || s == 0 || p >= k || k.div_ceil(s) > runtime_nostd::format::MAX_TAPS {
            return Err(at(i, "unsupported kernel / stride / padding"));
        }
        let oh = (shape[1] - 1) * s + k;
        let ow = (shape[2] - 1) * s + k;
        if oh <= 2 * p || ow <= 2 * p {
            return Err(at(i, "padding leaves no output"));
        }
        check_len("conv weight", weight, cin * cout * k * k)?;
        check_len("conv bias", bias, cout)?;
        self.push(Fused {
            kind,
            weight: weight.to_vec(),
            bias: bias.to_vec(),
            act: Act::Identity,
            in_shape: shape,
            out_shape: [cout, oh - 2 * p, ow - 2 * p],
        });
        Ok(())
    }

    fn batch_norm(&mut self, i: usize, bn: &Bn<'_>) -> Result<(), ExportError> {
        let shape = self.shape;
        let Some(op) = self.ops.last_mut() else {
            return Err(at(
                i,
                "batch norm before any dense / conv layer cannot be folded",
            ));
        };
        if self.activated {
            return Err(at(i, "batch norm after an activation cannot be folded"));
        }
        let n = bn.num_features;
        if n != shape[0] {
            return Err(at(
                i,
                &format!("batch norm over {n} features but the input is {shape:?}"),
            ));
        }
        for (name, v) in [
            ("gamma", bn.gamma),
            ("beta", bn.beta),
            ("running_mean", bn.running_mean),
            ("running_var", bn.running_var),
        ] {
            check_len(name, v, n)?;
        }
        let eps = bn.eps as f64;
        if !bn.eps.is_finite() || bn.running_var.iter().any(|&v| v as f64 + eps <= 0.0) {
            return Err(at(i, "batch norm variance + eps must be positive"));
        }
        fold_batch_norm(op, bn, shape[1] * shape[2]);
        Ok(())
    }

    fn reshape(&mut self, i: usize, new: [usize; 3]) -> Result<(), ExportError> {
        let shape = self.shape;
        if len(new) != len(shape) || new.contains(&0) {
            return Err(at(i, &format!("cannot reshape {shape:?} into {new:?}")));
        }
        let Some(op) = self.ops.last_mut() else {
            return Err(at(i, "reshape of the input is not supported"));
        };
        // Only a dense output can be re-laid freely (its rows are permuted at export);
        // a map with one channel or 1x1 pixels keeps its memory order.
        let trivial = |s: [usize; 3]| s[0] == 1 || s[1] * s[2] == 1;
        let relayable = matches!(op.kind, Kind::Dense { .. }) || (trivial(shape) && trivial(new));
        if !relayable {
            return Err(at(i, "reshape of a convolution output is not supported"));
        }
        op.out_shape = new;
        self.shape = new;
        Ok(())
    }

    fn activation(&mut self, i: usize, layer: &Layer) -> Result<(), ExportError> {
        let Some(op) = self.ops.last_mut() else {
            return Err(at(i, "activation of the input is not supported"));
        };
        if self.activated {
            return Err(at(i, "two activations in a row are not supported"));
        }
        op.act = match layer {
            Layer::Relu => Act::Relu,
            Layer::LeakyRelu { alpha } if alpha.is_finite() => Act::Leaky(*alpha),
            Layer::LeakyRelu { .. } => return Err(at(i, "non-finite LeakyReLU slope")),
            _ => Act::Tanh,
        };
        self.activated = true;
        Ok(())
    }
}

/// A batch norm's parameters, borrowed from the spec.
struct Bn<'a> {
    num_features: usize,
    gamma: &'a [f32],
    beta: &'a [f32],
    running_mean: &'a [f32],
    running_var: &'a [f32],
    eps: f32,
}

/// Folds a (validated) batch norm into `op`, in f64: every output of feature `c` is scaled by
/// `gamma[c] / sqrt(var[c] + eps)` and shifted. `per_channel` outputs share a feature.
fn fold_batch_norm(op: &mut Fused, bn: &Bn<'_>, per_channel: usize) {
    let eps = bn.eps as f64;
    let scale: Vec<f64> = (0..bn.num_features)
        .map(|c| bn.gamma[c] as f64 / (bn.running_var[c] as f64 + eps).sqrt())
        .collect();
    let shift = |b: f32, c: usize| {
        ((b as f64 - bn.running_mean[c] as f64) * scale[c] + bn.beta[c] as f64) as f32
    };
    match op.kind {
        Kind::Dense { in_features, .. } => {
            // Output `o` belongs to feature `o / per_channel`.
            for (o, (row, b)) in op
                .weight
                .chunks_exact_mut(in_features)
                .zip(&mut op.bias)
                .enumerate()
            {
                let c = o / per_channel;
                for w in row {
                    *w = (*w as f64 * scale[c]) as f32;
                }
                *b = shift(*b, c);
            }
        }
        Kind::ConvT { cout, k, .. } => {
            // `[cin][cout][k][k]`: block `j` of k² weights belongs to channel `j % cout`.
            for (j, block) in op.weight.chunks_exact_mut(k * k).enumerate() {
                for w in block {
                    *w = (*w as f64 * scale[j % cout]) as f32;
                }
            }
            for (o, b) in op.bias.iter_mut().enumerate() {
                *b = shift(*b, o);
            }
        }
    }
}

/// Checks the folded chain as a whole: its length, tanh last, activation sizes, a dense first
/// layer for a conditional model, and the image at the end.
fn check_chain(ops: &[Fused], num_classes: usize) -> Result<(), ExportError> {
    let n = ops.len();
    let Some(last) = ops.last() else {
        return Err(bad("no dense or transposed-conv layer"));
    };
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
    if num_classes > 0 && !matches!(ops[0].kind, Kind::Dense { .. }) {
        return Err(bad("a conditional model needs a dense first layer"));
    }
    let flat_dense = matches!(last.kind, Kind::Dense { .. }) && len(last.out_shape) == 784;
    if !flat_dense && last.out_shape != [1, 28, 28] {
        return Err(bad(format!(
            "the output is {:?}, expected a [1, 28, 28] image",
            last.out_shape
        )));
    }
    Ok(())
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

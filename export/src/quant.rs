//! Calibration, power-of-two int8 quantization, and the blob writer.

use crate::ExportError;
use crate::fold::{Act, Fused, Kind, forward_fused};
use crate::spec::GeneratorSpec;
use runtime_nostd::format::{
    ACC_INPUT_MAX, ACC_LIMIT, Activation, Header, LayerKind, LayerRecord, MAGIC, TensorRef,
    VERSION, blob_crc, layer_record_offset, write,
};

/// Exponents kept well inside the runtime's accepted range (±100).
const EXP_CLAMP: i32 = 60;

/// A fused layer with its quantized tensors (ONNX layouts, CHW feature order).
#[derive(Clone, Debug)]
pub(crate) struct QLayer {
    pub fused: Fused,
    /// Input activation exponent `a` (real = q · 2^-a).
    pub in_exp: i8,
    /// Output activation exponent `c` (0 for the last layer).
    pub out_exp: i8,
    /// Weight exponent per output channel `b[o]`.
    pub w_exp: Vec<i8>,
    /// Dense: `[out][in_z]` (label columns excluded); ConvT: `[cin][cout][k][k]`.
    pub wq: Vec<i8>,
    /// `[rows][out_channels]`, rows = classes (first layer of a conditional model) or 1.
    pub bq: Vec<i32>,
}

impl QLayer {
    /// Requantization exponent of output channel `o`: `c - a - b[o]`.
    pub fn requant(&self, o: usize) -> i32 {
        self.out_exp as i32 - self.in_exp as i32 - self.w_exp[o] as i32
    }
}

/// The whole quantized model.
#[derive(Clone, Debug)]
pub(crate) struct QModel {
    pub z_dim: usize,
    pub num_classes: usize,
    pub z_exp: i8,
    pub layers: Vec<QLayer>,
}

/// `floor(log2(127 / maxabs))`: the largest power-of-two scale that keeps `maxabs` within ±127.
fn exp_for(maxabs: f64) -> i32 {
    if maxabs <= 0.0 || !maxabs.is_finite() {
        return 0;
    }
    ((127.0 / maxabs).log2().floor() as i32).clamp(-EXP_CLAMP, EXP_CLAMP)
}

fn input_vector(spec: &GeneratorSpec, z: &[f32], label: Option<u8>) -> Vec<f32> {
    let mut x = z.to_vec();
    if spec.num_classes > 0 {
        let mut one_hot = vec![0f32; spec.num_classes];
        one_hot[label.unwrap_or(0) as usize % spec.num_classes] = 1.0;
        x.extend(one_hot);
    }
    x
}

/// Calibrates activation ranges on `batch` latents (`latent(seed, i)`, label `i % classes`) and
/// quantizes every layer.
pub(crate) fn quantize(
    spec: &GeneratorSpec,
    ops: &[Fused],
    seed: u64,
    batch: usize,
) -> Result<QModel, ExportError> {
    if batch == 0 {
        return Err(ExportError::InvalidInput(
            "calibration batch size must be at least 1".into(),
        ));
    }
    let mut z_max = 0f64;
    let mut act_max = vec![0f64; ops.len()];
    let mut z = vec![0f32; spec.z_dim];
    for i in 0..batch {
        runtime_nostd::latent(seed, i as u32, &mut z);
        let label = (spec.num_classes > 0).then(|| (i % spec.num_classes) as u8);
        z_max = z.iter().fold(z_max, |m, &v| m.max(v.abs() as f64));
        let outs = forward_fused(ops, &input_vector(spec, &z, label));
        for (m, out) in act_max.iter_mut().zip(&outs) {
            *m = out.iter().fold(*m, |m, &v| m.max(v.abs() as f64));
        }
    }
    let z_exp = exp_for(z_max);
    let mut layers = Vec::with_capacity(ops.len());
    let mut in_exp = z_exp;
    for (i, op) in ops.iter().enumerate() {
        let last = i + 1 == ops.len();
        let out_exp = if last { 0 } else { exp_for(act_max[i]) };
        let q = quantize_layer(spec, op, i, in_exp, out_exp)?;
        layers.push(q);
        in_exp = out_exp;
    }
    Ok(QModel {
        z_dim: spec.z_dim,
        num_classes: spec.num_classes,
        z_exp: z_exp as i8,
        layers,
    })
}

fn quantize_layer(
    spec: &GeneratorSpec,
    op: &Fused,
    index: usize,
    a: i32,
    c: i32,
) -> Result<QLayer, ExportError> {
    let cout = op.out_channels();
    let conditional = index == 0 && spec.num_classes > 0;
    let rows = if conditional { spec.num_classes } else { 1 };
    let mut w_exp = vec![0i8; cout];
    let (mut wq, mut bq) = match op.kind {
        Kind::Dense { in_features, .. } => {
            let in_z = in_features - if conditional { spec.num_classes } else { 0 };
            (vec![0i8; cout * in_z], vec![0i32; rows * cout])
        }
        Kind::ConvT { .. } => (vec![0i8; op.weight.len()], vec![0i32; cout]),
    };
    for o in 0..cout {
        // Positions (in `op.weight` and in `wq`) and phase group of this channel's weights.
        let positions: Vec<(usize, usize, usize)> = match op.kind {
            Kind::Dense { in_features, .. } => {
                let in_z = wq.len() / cout;
                (0..in_z)
                    .map(|j| (o * in_features + j, o * in_z + j, 0))
                    .collect()
            }
            Kind::ConvT { cin, k, s, .. } => (0..cin)
                .flat_map(|ci| {
                    (0..k * k).map(move |t| {
                        let at = (ci * cout + o) * k * k + t;
                        (at, at, (t / k % s) * s + t % k % s)
                    })
                })
                .collect(),
        };
        let groups = match op.kind {
            Kind::Dense { .. } => 1,
            Kind::ConvT { s, .. } => s * s,
        };
        let biases: Vec<f64> = (0..rows)
            .map(|r| {
                let mut b = op.bias[o] as f64;
                if let (true, Kind::Dense { in_features, .. }) = (conditional, op.kind) {
                    b += op.weight[o * in_features + spec.z_dim + r] as f64;
                }
                b
            })
            .collect();
        let maxabs = positions
            .iter()
            .fold(0f64, |m, &(at, _, _)| m.max(op.weight[at].abs() as f64));
        let mut b = exp_for(maxabs);
        loop {
            let scale = 2f64.powi(b);
            let mut sums = vec![0i64; groups];
            for &(at, _, g) in &positions {
                sums[g] += (op.weight[at] as f64 * scale).round().abs() as i64;
            }
            let bscale = 2f64.powi(a + b);
            let bmax = biases
                .iter()
                .map(|v| (v * bscale).round().abs())
                .fold(0f64, f64::max);
            let bound = ACC_INPUT_MAX as f64 * *sums.iter().max().unwrap_or(&0) as f64 + bmax;
            if bound < ACC_LIMIT as f64 {
                break;
            }
            b -= 1;
            if b < -EXP_CLAMP {
                return Err(ExportError::Quantization(format!(
                    "layer {index}, channel {o}: cannot keep the accumulator below 2^24"
                )));
            }
        }
        let e = c - a - b;
        if !(-100..=100).contains(&e) {
            return Err(ExportError::Quantization(format!(
                "layer {index}, channel {o}: requantization exponent {e} out of range"
            )));
        }
        w_exp[o] = b as i8;
        let scale = 2f64.powi(b);
        for &(at, to, _) in &positions {
            wq[to] = (op.weight[at] as f64 * scale).round().clamp(-127.0, 127.0) as i8;
        }
        let bscale = 2f64.powi(a + b);
        for (r, v) in biases.iter().enumerate() {
            bq[r * cout + o] = (v * bscale).round() as i32;
        }
    }
    Ok(QLayer {
        fused: op.clone(),
        in_exp: a as i8,
        out_exp: c as i8,
        w_exp,
        wq,
        bq,
    })
}

/// Converts a version-1 blob (weights one output after another: dense `[out][in]`, transposed
/// conv `[out_c][py][px][ty][tx][in_c]`, the phase order of [`write::phase_order`]) into the
/// current format, same weights, same images. This is how `firmware/assets/tiny.tgb` moved to
/// version 2.
pub fn upgrade_v1(old: &[u8]) -> Result<Vec<u8>, ExportError> {
    let bad = |what: &str| ExportError::InvalidSpec(format!("not a valid version-1 blob: {what}"));
    let (mut h, _) = Header::from_bytes(old).ok_or_else(|| bad("truncated"))?;
    if h.magic != MAGIC || h.version != 1 {
        return Err(bad("magic or version"));
    }
    let blob = old
        .get(..h.total_len as usize)
        .ok_or_else(|| bad("truncated"))?;
    if blob_crc(blob) != Some(h.crc32) {
        return Err(bad("CRC mismatch"));
    }
    h.version = VERSION;
    let n = h.num_layers as usize;
    let mut builder = write::BlobBuilder::new(h, n);
    for i in 0..n {
        let r = blob
            .get(layer_record_offset(i)..)
            .and_then(LayerRecord::from_bytes)
            .ok_or_else(|| bad("layer table"))?;
        let slice = |t: TensorRef| {
            blob.get(t.offset as usize..t.offset as usize + t.len as usize)
                .ok_or_else(|| bad("tensor out of bounds"))
        };
        let w: Vec<i8> = slice(r.weight)?.iter().map(|&b| b as i8).collect();
        let [cin, ih, iw] = r.in_shape.map(usize::from);
        let [cout, oh, ow] = r.out_shape.map(usize::from);
        let packed = if r.kind == LayerKind::Dense as u8 {
            let (inputs, outputs) = (cin * ih * iw, cout * oh * ow);
            if w.len() != inputs * outputs {
                return Err(bad("dense weight size"));
            }
            write::pack_dense(&w, inputs, outputs)
        } else {
            let (s, t) = (r.stride as usize, r.taps as usize);
            if w.len() != cout * s * s * t * t * cin {
                return Err(bad("transposed-convolution weight size"));
            }
            write::pack_phases(&w, cin, cout, s, t)
        };
        builder.push(r, &packed, slice(r.bias)?, slice(r.requant)?)?;
    }
    Ok(builder.finish()?)
}

/// Serializes a quantized model into the runtime's blob format ([`runtime_nostd::format`]).
pub(crate) fn write(q: &QModel, preset: &str, iteration: u64) -> Result<Vec<u8>, ExportError> {
    // Requantization exponents, one per output feature (dense) or channel.
    let requant: Vec<Vec<i8>> = q
        .layers
        .iter()
        .map(|l| {
            (0..l.fused.out_channels())
                .map(|o| l.requant(o) as i8)
                .collect()
        })
        .collect();
    let layers: Vec<write::LayerData<'_>> = q
        .layers
        .iter()
        .zip(&requant)
        .enumerate()
        .map(|(i, (l, requant))| layer_data(q, i, l, requant))
        .collect();
    let meta = write::BlobMeta {
        z_dim: q.z_dim,
        num_classes: q.num_classes,
        input_exp: q.z_exp,
        iteration,
        preset,
    };
    Ok(write::write_blob(&meta, &layers)?)
}

/// Layer `i` of `q` as the blob writer takes it.
fn layer_data<'a>(q: &QModel, i: usize, l: &'a QLayer, requant: &'a [i8]) -> write::LayerData<'a> {
    let f = &l.fused;
    let op = match f.kind {
        Kind::Dense { .. } => write::Op::Dense,
        Kind::ConvT { k, s, p, .. } => write::Op::ConvTranspose {
            kernel: k,
            stride: s,
            padding: p,
        },
    };
    let (activation, alpha) = match f.act {
        Act::Identity => (Activation::Identity, 0.0),
        Act::Relu => (Activation::Relu, 0.0),
        Act::Leaky(a) => (Activation::LeakyRelu, a),
        Act::Tanh => (Activation::Tanh, 0.0),
    };
    write::LayerData {
        op,
        activation,
        alpha,
        in_exp: l.in_exp,
        out_exp: l.out_exp,
        // The first layer reads z alone: the label is its class-bias table.
        in_shape: if i == 0 { [q.z_dim, 1, 1] } else { f.in_shape },
        out_shape: f.out_shape,
        weight: &l.wq,
        bias: &l.bq,
        requant,
    }
}

//! Calibration, power-of-two int8 quantization, and the blob writer.

use crate::ExportError;
use crate::fold::{Act, Fused, Kind, forward_fused};
use crate::spec::GeneratorSpec;
use runtime_nostd::format::{
    ACC_INPUT_MAX, ACC_LIMIT, Activation, HEADER_LEN, Header, LAYER_RECORD_LEN, LayerKind,
    LayerRecord, MAGIC, TensorRef, VERSION, WeightGeometry, align_up, blob_crc,
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

/// Index permutation from CHW order to the runtime's HWC order for a `[C, H, W]` map.
fn chw_to_hwc(shape: [usize; 3]) -> Vec<usize> {
    let [c, h, w] = shape;
    let mut p = vec![0; c * h * w];
    for ci in 0..c {
        for y in 0..h {
            for x in 0..w {
                p[(ci * h + y) * w + x] = (y * w + x) * c + ci;
            }
        }
    }
    p
}

fn u16_shape(s: [usize; 3]) -> Result<[u16; 3], ExportError> {
    let mut out = [0u16; 3];
    for (o, &v) in out.iter_mut().zip(&s) {
        *o = u16::try_from(v)
            .map_err(|_| ExportError::InvalidSpec(format!("dimension {v} exceeds 65535")))?;
    }
    Ok(out)
}

/// The quad layout ([`WeightGeometry`]) of transposed-convolution weights given in the phase
/// order `[out_c][py][px][ty][tx][in_c]` (blob version 1's layout).
fn pack_conv(w: &[i8], cin: usize, cout: usize, s: usize, t: usize) -> Vec<u8> {
    let geom = WeightGeometry::conv(cin, cout, s, t);
    let mut packed = vec![0u8; geom.len() as usize];
    geom.pack(&mut packed, |v, tap, i| {
        let (phase, o) = (v / cout, v % cout);
        w[((o * s * s + phase) * t * t + tap) * cin + i]
    });
    packed
}

/// Converts a version-1 blob (weights one output after another: dense `[out][in]`, transposed
/// conv `[out_c][py][px][ty][tx][in_c]`) into the current format, same weights, same images.
/// This is how `firmware/assets/tiny.tgb` moved to version 2.
pub fn upgrade_v1(old: &[u8]) -> Result<Vec<u8>, ExportError> {
    let bad = |what: &str| ExportError::InvalidSpec(format!("not a valid version-1 blob: {what}"));
    let (mut h, _) = Header::from_bytes(old).ok_or_else(|| bad("truncated"))?;
    if h.magic != MAGIC || h.version != 1 {
        return Err(bad("magic or version"));
    }
    let total = h.total_len as usize;
    let blob = old.get(..total).ok_or_else(|| bad("truncated"))?;
    if blob_crc(blob) != Some(h.crc32) {
        return Err(bad("CRC mismatch"));
    }
    let n = h.num_layers as usize;
    let data_start = HEADER_LEN + n * LAYER_RECORD_LEN;
    let mut data: Vec<u8> = Vec::new();
    let put = |bytes: &[u8], data: &mut Vec<u8>| TensorRef {
        offset: (data_start + data.len()) as u32,
        len: bytes.len() as u32,
    };
    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        let mut r = LayerRecord::from_bytes(&blob[HEADER_LEN + i * LAYER_RECORD_LEN..])
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
            let geom = WeightGeometry::dense(inputs, outputs);
            let mut packed = vec![0u8; geom.len() as usize];
            geom.pack(&mut packed, |v, _, i| w[v * inputs + i]);
            packed
        } else {
            let (s, t) = (r.stride as usize, r.taps as usize);
            if w.len() != cout * s * s * t * t * cin {
                return Err(bad("transposed-convolution weight size"));
            }
            pack_conv(&w, cin, cout, s, t)
        };
        let (bias, requant) = (slice(r.bias)?.to_vec(), slice(r.requant)?.to_vec());
        for (t, bytes) in [
            (&mut r.weight, &packed),
            (&mut r.bias, &bias),
            (&mut r.requant, &requant),
        ] {
            *t = put(bytes, &mut data);
            data.extend_from_slice(bytes);
            data.resize(align_up(data_start + data.len()) - data_start, 0);
        }
        records.push(r);
    }
    h.version = VERSION;
    h.total_len = (data_start + data.len()) as u32;
    let mut out = h.to_bytes().to_vec();
    for r in &records {
        out.extend_from_slice(&r.to_bytes());
    }
    out.extend_from_slice(&data);
    let crc = blob_crc(&out).expect("blob holds a header");
    out[runtime_nostd::format::CRC_OFFSET..runtime_nostd::format::CRC_OFFSET + 4]
        .copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Serializes a quantized model into the runtime's blob format ([`runtime_nostd::format`]).
// Index loops: the re-ordering maps indices between several layouts at once.
#[allow(clippy::needless_range_loop)]
pub(crate) fn write(q: &QModel, preset: &str, iteration: u64) -> Result<Vec<u8>, ExportError> {
    let n = q.layers.len();
    let mut records = Vec::with_capacity(n);
    let mut data: Vec<u8> = Vec::new();
    let data_start = HEADER_LEN + n * LAYER_RECORD_LEN;
    let put = |bytes: &[u8], data: &mut Vec<u8>| -> Result<TensorRef, ExportError> {
        let offset = data_start + data.len();
        data.extend_from_slice(bytes);
        data.resize(align_up(data_start + data.len()) - data_start, 0);
        Ok(TensorRef {
            offset: u32::try_from(offset)
                .map_err(|_| ExportError::InvalidSpec("blob larger than 4 GiB".into()))?,
            len: bytes.len() as u32,
        })
    };
    let mut inputs = Vec::with_capacity(n);
    for (i, l) in q.layers.iter().enumerate() {
        let f = &l.fused;
        let in_shape = if i == 0 { [q.z_dim, 1, 1] } else { f.in_shape };
        inputs.push(in_shape.iter().product::<usize>());
        let cout = f.out_channels();
        let rows = l.bq.len() / cout;
        let (kind, weights, bias, requant, conv) = match f.kind {
            Kind::Dense { out_features, .. } => {
                let in_z = l.wq.len() / out_features;
                let pin = chw_to_hwc(in_shape);
                let pout = chw_to_hwc(f.out_shape);
                let mut w = vec![0i8; l.wq.len()];
                let mut b = vec![0i32; l.bq.len()];
                let mut e = vec![0i8; out_features];
                for r in 0..out_features {
                    let rh = pout[r];
                    for j in 0..in_z {
                        w[rh * in_z + pin[j]] = l.wq[r * in_z + j];
                    }
                    for row in 0..rows {
                        b[row * out_features + rh] = l.bq[row * out_features + r];
                    }
                    e[rh] = l.requant(r) as i8;
                }
                let geom = WeightGeometry::dense(in_z, out_features);
                let mut packed = vec![0u8; geom.len() as usize];
                geom.pack(&mut packed, |v, _, i| w[v * in_z + i]);
                (LayerKind::Dense, packed, b, e, [0u8; 4])
            }
            Kind::ConvT { cin, cout, k, s, p } => {
                let t = k.div_ceil(s);
                let mut w = vec![0i8; cout * s * s * t * t * cin];
                for o in 0..cout {
                    for py in 0..s {
                        for px in 0..s {
                            for ty in 0..t {
                                for tx in 0..t {
                                    let (ky, kx) = (py + ty * s, px + tx * s);
                                    if ky >= k || kx >= k {
                                        continue;
                                    }
                                    let base = ((((o * s + py) * s + px) * t + ty) * t + tx) * cin;
                                    for ci in 0..cin {
                                        w[base + ci] = l.wq[((ci * cout + o) * k + ky) * k + kx];
                                    }
                                }
                            }
                        }
                    }
                }
                let e = (0..cout).map(|o| l.requant(o) as i8).collect();
                let conv = [k as u8, s as u8, p as u8, t as u8];
                let packed = pack_conv(&w, cin, cout, s, t);
                (LayerKind::ConvTranspose, packed, l.bq.clone(), e, conv)
            }
        };
        let (activation, alpha) = match f.act {
            Act::Identity => (Activation::Identity, 0.0),
            Act::Relu => (Activation::Relu, 0.0),
            Act::Leaky(a) => (Activation::LeakyRelu, a),
            Act::Tanh => (Activation::Tanh, 0.0),
        };
        let wbytes = weights;
        let bbytes: Vec<u8> = bias.iter().flat_map(|v| v.to_le_bytes()).collect();
        let ebytes: Vec<u8> = requant.iter().map(|&v| v as u8).collect();
        records.push(LayerRecord {
            kind: kind as u8,
            activation: activation as u8,
            in_exp: l.in_exp,
            out_exp: l.out_exp,
            in_shape: u16_shape(in_shape)?,
            out_shape: u16_shape(f.out_shape)?,
            kernel: conv[0],
            stride: conv[1],
            padding: conv[2],
            taps: conv[3],
            alpha,
            weight: put(&wbytes, &mut data)?,
            bias: put(&bbytes, &mut data)?,
            requant: put(&ebytes, &mut data)?,
        });
    }
    let total = data_start + data.len();
    let mut name = [0u8; 8];
    for (d, s) in name.iter_mut().zip(preset.bytes()) {
        *d = s;
    }
    let header = Header {
        magic: MAGIC,
        version: VERSION,
        header_len: HEADER_LEN as u16,
        total_len: u32::try_from(total)
            .map_err(|_| ExportError::InvalidSpec("blob larger than 4 GiB".into()))?,
        crc32: 0,
        z_dim: u16::try_from(q.z_dim)
            .map_err(|_| ExportError::InvalidSpec("z_dim exceeds 65535".into()))?,
        num_classes: q.num_classes as u16,
        num_layers: n as u16,
        input_exp: q.z_exp,
        flags: 0,
        scratch_bytes: runtime_nostd::scratch_bytes(&inputs) as u32,
        layer_table_offset: HEADER_LEN as u32,
        iteration,
        preset: name,
    };
    let mut blob = Vec::with_capacity(total);
    blob.extend_from_slice(&header.to_bytes());
    for r in &records {
        blob.extend_from_slice(&r.to_bytes());
    }
    blob.extend_from_slice(&data);
    let crc = blob_crc(&blob).expect("blob holds a header");
    blob[runtime_nostd::format::CRC_OFFSET..runtime_nostd::format::CRC_OFFSET + 4]
        .copy_from_slice(&crc.to_le_bytes());
    Ok(blob)
}

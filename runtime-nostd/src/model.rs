//! The parsed model and its int8 forward pass.

use crate::error::{BlobError, RunError, TensorName};
use crate::format::{
    ACC_INPUT_MAX, ACC_LIMIT, Activation, HEADER_LEN, Header, IMAGE_PIXELS, IMAGE_SIDE,
    LAYER_RECORD_LEN, LayerKind, LayerRecord, MAGIC, MAX_LAYERS, MAX_TAPS, TENSOR_ALIGN, TensorRef,
    VERSION, blob_crc,
};
use crate::math::{pixel_from_preactivation, pow2, quantize_i8};
use crate::scratch::Scratch;

/// Exponents must stay well inside f32's normal range so `2^e` scaling is exact.
/// Largest activation (elements) a layer may read or write.
pub const MAX_ACTIVATION: u64 = 1 << 20;

const EXP_RANGE: core::ops::RangeInclusive<i32> = -100..=100;

/// One validated fused layer, its tensors borrowed from the blob.
#[derive(Clone, Copy, Debug)]
struct Layer<'a> {
    kind: LayerKind,
    act: Activation,
    alpha: f32,
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    stride: usize,
    padding: usize,
    taps: usize,
    weight: &'a [i8],
    bias: &'a [u8],
    requant: &'a [i8],
}

impl Layer<'_> {
    fn in_len(&self) -> usize {
        self.in_shape[0] * self.in_shape[1] * self.in_shape[2]
    }
    fn out_len(&self) -> usize {
        self.out_shape[0] * self.out_shape[1] * self.out_shape[2]
    }
}

/// A generator parsed from a blob. Borrowing the blob (e.g. in flash); weights are read in place.
#[derive(Clone, Debug)]
pub struct Model<'a> {
    z_dim: usize,
    num_classes: usize,
    input_exp: i8,
    scratch_bytes: usize,
    slots: [usize; 2],
    iteration: u64,
    preset: [u8; 8],
    blob_len: usize,
    layers: heapless::Vec<Layer<'a>, MAX_LAYERS>,
}

fn as_i8(b: &[u8]) -> &[i8] {
    // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is valid for both.
    unsafe { core::slice::from_raw_parts(b.as_ptr().cast::<i8>(), b.len()) }
}

fn i32_at(b: &[u8], i: usize) -> i32 {
    let c = &b[4 * i..4 * i + 4];
    i32::from_le_bytes([c[0], c[1], c[2], c[3]])
}

/// Bytes of scratch for a chain of layers whose inputs have `inputs[i]` int8 elements: layer `i`
/// reads slot `i % 2` and writes slot `(i + 1) % 2` (the last layer writes the image directly), so
/// the scratch is the largest even-indexed input plus the largest odd-indexed one.
pub const fn scratch_bytes(inputs: &[usize]) -> usize {
    let s = slot_sizes(inputs);
    s[0] + s[1]
}

const fn slot_sizes(inputs: &[usize]) -> [usize; 2] {
    let mut s = [0usize; 2];
    let mut i = 0;
    while i < inputs.len() {
        if inputs[i] > s[i % 2] {
            s[i % 2] = inputs[i];
        }
        i += 1;
    }
    s
}

impl<'a> Model<'a> {
    /// Parses and validates a blob (see [`crate::format`]): magic, version, lengths, CRC-32,
    /// every layer record, tensor bounds, alignment and sizes, the shape and exponent chain, and
    /// the accumulator bound. Never panics and never reads outside `bytes`; bytes after
    /// `total_len` are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BlobError> {
        let (h, reserved_zero) = Header::from_bytes(bytes).ok_or(BlobError::Truncated {
            needed: HEADER_LEN,
            actual: bytes.len(),
        })?;
        if h.magic != MAGIC {
            return Err(BlobError::BadMagic(h.magic));
        }
        if h.version != VERSION {
            return Err(BlobError::UnsupportedVersion(h.version));
        }
        if h.header_len as usize != HEADER_LEN {
            return Err(BlobError::BadHeaderLength(h.header_len));
        }
        let total = h.total_len as usize;
        if total < HEADER_LEN {
            return Err(BlobError::BadTotalLength(h.total_len));
        }
        let blob = bytes.get(..total).ok_or(BlobError::Truncated {
            needed: total,
            actual: bytes.len(),
        })?;
        let computed = blob_crc(blob).unwrap_or(0);
        if computed != h.crc32 {
            return Err(BlobError::CrcMismatch {
                stored: h.crc32,
                computed,
            });
        }
        if !reserved_zero || h.flags != 0 {
            return Err(BlobError::ReservedNotZero);
        }
        if h.layer_table_offset as usize != HEADER_LEN {
            return Err(BlobError::BadLayerTableOffset(h.layer_table_offset));
        }
        if h.z_dim == 0 || h.num_classes > 256 {
            return Err(BlobError::BadModelDims {
                z_dim: h.z_dim,
                num_classes: h.num_classes,
            });
        }
        let n = h.num_layers as usize;
        if n == 0 || n > MAX_LAYERS {
            return Err(BlobError::BadLayerCount(h.num_layers));
        }
        let table_end = HEADER_LEN + n * LAYER_RECORD_LEN;
        if table_end > total {
            return Err(BlobError::BadTotalLength(h.total_len));
        }
        if !EXP_RANGE.contains(&(h.input_exp as i32)) {
            return Err(BlobError::BadExponent { layer: 0 });
        }

        let mut layers = heapless::Vec::new();
        let mut inputs = [0usize; MAX_LAYERS];
        let mut prev_shape = [h.z_dim as usize, 1, 1];
        let mut prev_exp = h.input_exp;
        for (i, input) in inputs.iter_mut().enumerate().take(n) {
            let at = HEADER_LEN + i * LAYER_RECORD_LEN;
            let rec = LayerRecord::from_bytes(&blob[at..]).ok_or(BlobError::Truncated {
                needed: at + LAYER_RECORD_LEN,
                actual: total,
            })?;
            let last = i + 1 == n;
            let cond = i == 0 && h.num_classes > 0;
            let layer = parse_layer(blob, table_end, i, &rec, last, cond, h.num_classes as usize)?;
            if layer.in_shape != prev_shape {
                return Err(BlobError::BadShape {
                    layer: i,
                    what: "input shape is not the previous layer's output shape",
                });
            }
            if rec.in_exp != prev_exp {
                return Err(BlobError::BadExponent { layer: i });
            }
            *input = layer.in_len();
            prev_shape = layer.out_shape;
            prev_exp = rec.out_exp;
            // Cannot fail: n <= MAX_LAYERS.
            let _ = layers.push(layer);
        }
        let slots = slot_sizes(&inputs);
        let scratch = slots[0] + slots[1];
        if scratch != h.scratch_bytes as usize {
            return Err(BlobError::ScratchMismatch {
                header: h.scratch_bytes,
                computed: scratch,
            });
        }
        Ok(Self {
            z_dim: h.z_dim as usize,
            num_classes: h.num_classes as usize,
            input_exp: h.input_exp,
            scratch_bytes: scratch,
            slots,
            iteration: h.iteration,
            preset: h.preset,
            blob_len: total,
            layers,
        })
    }

    /// [`parse`](Self::parse), then checks that a `Scratch<N>` is big enough
    /// ([`BlobError::ScratchTooSmall`] otherwise), so a firmware can reject a blob at load time.
    pub fn parse_for_scratch<const N: usize>(bytes: &'a [u8]) -> Result<Self, BlobError> {
        let m = Self::parse(bytes)?;
        if m.scratch_bytes > N {
            return Err(BlobError::ScratchTooSmall {
                needed: m.scratch_bytes,
                available: N,
            });
        }
        Ok(m)
    }

    /// Length of the latent `z`.
    pub fn z_dim(&self) -> usize {
        self.z_dim
    }

    /// Number of classes of a conditional model; 0 when unconditional.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Scratch bytes [`generate`](Self::generate) needs (`Scratch<N>` with `N >=` this).
    pub fn scratch_bytes(&self) -> usize {
        self.scratch_bytes
    }

    /// Number of fused layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Length of the blob in bytes (its `total_len`).
    pub fn blob_len(&self) -> usize {
        self.blob_len
    }

    /// Generator iteration recorded in the blob.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// Preset name recorded in the blob (`"tiny"`, `"dcgan"`, `"mlp"`, ...).
    pub fn preset(&self) -> &str {
        let end = self.preset.iter().position(|&b| b == 0).unwrap_or(8);
        core::str::from_utf8(&self.preset[..end]).unwrap_or("?")
    }

    /// Multiply-accumulates per generated image.
    pub fn macs(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| match l.kind {
                LayerKind::Dense => (l.in_len() * l.out_len()) as u64,
                LayerKind::ConvTranspose => {
                    // Every output value reads up to taps² input pixels of in_c channels.
                    (l.out_len() * l.taps * l.taps * l.in_shape[0]) as u64
                }
            })
            .sum()
    }

    /// Generates one 28×28 image (row-major, 0 = background, 255 = ink) from the latent `z`
    /// (length [`z_dim`](Self::z_dim)) and, for a conditional model, a class `label`.
    ///
    /// The latent is quantized to int8, every layer runs in int8 × int8 → int32 with power-of-two
    /// requantization (see [`crate::format`]), and the last layer's tanh is evaluated in f32.
    pub fn generate<const N: usize>(
        &self,
        z: &[f32],
        label: Option<u8>,
        scratch: &mut Scratch<N>,
        out: &mut [u8; IMAGE_PIXELS],
    ) -> Result<(), RunError> {
        if N < self.scratch_bytes {
            return Err(RunError::ScratchTooSmall {
                needed: self.scratch_bytes,
                available: N,
            });
        }
        if z.len() != self.z_dim {
            return Err(RunError::LatentLength {
                expected: self.z_dim,
                actual: z.len(),
            });
        }
        let class = match (label, self.num_classes) {
            (None, 0) => 0,
            (Some(_), 0) => return Err(RunError::UnexpectedLabel),
            (None, _) => return Err(RunError::MissingLabel),
            (Some(l), n) if (l as usize) < n => l as usize,
            (Some(l), n) => {
                return Err(RunError::LabelOutOfRange {
                    label: l,
                    num_classes: n,
                });
            }
        };
        let (slot0, rest) = scratch.bytes_mut().split_at_mut(self.slots[0]);
        let slot1 = &mut rest[..self.slots[1]];
        let scale = pow2(self.input_exp as i32);
        for (q, &v) in slot0.iter_mut().zip(z) {
            *q = quantize_i8(v * scale);
        }
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            let (src, dst): (&[i8], &mut [i8]) = if i % 2 == 0 {
                (&slot0[..], &mut slot1[..])
            } else {
                (&slot1[..], &mut slot0[..])
            };
            let src = &src[..l.in_len()];
            let bias = if i == 0 && self.num_classes > 0 {
                let len = 4 * l.out_len();
                &l.bias[class * len..(class + 1) * len]
            } else {
                l.bias
            };
            if i + 1 == n {
                run_layer(l, src, bias, &mut out[..], |acc, e| {
                    pixel_from_preactivation(acc as f32 * pow2(e))
                });
            } else {
                let act = l.act;
                let alpha = l.alpha;
                run_layer(l, src, bias, &mut dst[..l.out_len()], |acc, e| {
                    let v = acc as f32 * pow2(e);
                    let v = match act {
                        Activation::Relu => {
                            if v < 0.0 {
                                0.0
                            } else {
                                v
                            }
                        }
                        Activation::LeakyRelu => {
                            if v < 0.0 {
                                v * alpha
                            } else {
                                v
                            }
                        }
                        Activation::Identity | Activation::Tanh => v,
                    };
                    quantize_i8(v)
                });
            }
        }
        Ok(())
    }
}

/// int8 dot product, int32 accumulation. Iterator form: no bounds checks, vectorizes on the host.
#[inline(always)]
fn dot(x: &[i8], w: &[i8]) -> i32 {
    x.iter().zip(w).map(|(&a, &b)| a as i32 * b as i32).sum()
}

/// Runs one validated layer; `epilogue(acc, requant_exp)` turns each accumulator into an output.
fn run_layer<T>(
    l: &Layer<'_>,
    x: &[i8],
    bias: &[u8],
    out: &mut [T],
    epilogue: impl Fn(i32, i32) -> T,
) {
    match l.kind {
        LayerKind::Dense => {
            let inputs = x.len();
            for (((y, w), b), &e) in out
                .iter_mut()
                .zip(l.weight.chunks_exact(inputs))
                .zip(bias.chunks_exact(4))
                .zip(l.requant)
            {
                let acc = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) + dot(x, w);
                *y = epilogue(acc, e as i32);
            }
        }
        LayerKind::ConvTranspose => conv_transpose(l, x, bias, out, epilogue),
    }
}

/// Transposed convolution in gather form over channel-last maps (see [`crate::format`] for the
/// phase-ordered weight layout). Per output pixel the (at most `taps²`) contributing input pixels
/// are found once; per output channel the weights are one contiguous block.
fn conv_transpose<T>(
    l: &Layer<'_>,
    x: &[i8],
    bias: &[u8],
    out: &mut [T],
    epilogue: impl Fn(i32, i32) -> T,
) {
    let [cin, ih, iw] = l.in_shape;
    let [cout, oh, ow] = l.out_shape;
    let (s, p, t) = (l.stride, l.padding, l.taps);
    let block = t * t * cin;
    let phase_stride = block * s * s;
    let mut pixels = out.chunks_exact_mut(cout);
    for oy in 0..oh {
        let py = (oy + p) % s;
        let by = (oy + p - py) / s;
        for ox in 0..ow {
            let px = (ox + p) % s;
            let bx = (ox + p - px) / s;
            // Input pixels feeding this output pixel, with their tap index.
            let mut rows: [(usize, &[i8]); MAX_TAPS * MAX_TAPS] = [(0, &[]); MAX_TAPS * MAX_TAPS];
            let mut nrows = 0;
            for ty in 0..t {
                let Some(iy) = by.checked_sub(ty).filter(|&iy| iy < ih) else {
                    continue;
                };
                for tx in 0..t {
                    let Some(ix) = bx.checked_sub(tx).filter(|&ix| ix < iw) else {
                        continue;
                    };
                    let at = (iy * iw + ix) * cin;
                    rows[nrows] = ((ty * t + tx) * cin, &x[at..at + cin]);
                    nrows += 1;
                }
            }
            let rows = &rows[..nrows];
            let phase = (py * s + px) * block;
            let Some(pixel) = pixels.next() else { return };
            for (o, y) in pixel.iter_mut().enumerate() {
                let w = &l.weight[o * phase_stride + phase..o * phase_stride + phase + block];
                let mut acc = i32_at(bias, o);
                for &(off, xr) in rows {
                    acc += dot(xr, &w[off..off + cin]);
                }
                *y = epilogue(acc, l.requant[o] as i32);
            }
        }
    }
}

fn tensor(
    blob: &[u8],
    table_end: usize,
    layer: usize,
    name: TensorName,
    t: TensorRef,
    expected: u64,
) -> Result<&[u8], BlobError> {
    if !(t.offset as usize).is_multiple_of(TENSOR_ALIGN) {
        return Err(BlobError::Misaligned {
            layer,
            tensor: name,
        });
    }
    if t.len as u64 != expected {
        return Err(BlobError::TensorSize {
            layer,
            tensor: name,
            expected,
            actual: t.len,
        });
    }
    let start = t.offset as usize;
    let end = start.checked_add(t.len as usize);
    match end {
        Some(end) if start >= table_end && end <= blob.len() => Ok(&blob[start..end]),
        _ => Err(BlobError::TensorOutOfBounds {
            layer,
            tensor: name,
        }),
    }
}

fn parse_layer<'a>(
    blob: &'a [u8],
    table_end: usize,
    i: usize,
    r: &LayerRecord,
    last: bool,
    conditional: bool,
    num_classes: usize,
) -> Result<Layer<'a>, BlobError> {
    let kind = LayerKind::from_code(r.kind).ok_or(BlobError::UnknownLayerKind {
        layer: i,
        code: r.kind,
    })?;
    let act = Activation::from_code(r.activation).ok_or(BlobError::BadActivation {
        layer: i,
        code: r.activation,
    })?;
    if (act == Activation::Tanh) != last {
        return Err(BlobError::BadActivation {
            layer: i,
            code: r.activation,
        });
    }
    let alpha_ok = if act == Activation::LeakyRelu {
        r.alpha.is_finite()
    } else {
        r.alpha.to_bits() == 0
    };
    if !alpha_ok {
        return Err(BlobError::BadAlpha { layer: i });
    }
    let shape_err = |what| BlobError::BadShape { layer: i, what };
    let in_shape = r.in_shape.map(usize::from);
    let out_shape = r.out_shape.map(usize::from);
    if in_shape.contains(&0) || out_shape.contains(&0) {
        return Err(shape_err("zero dimension"));
    }
    if last && out_shape != [1, IMAGE_SIDE, IMAGE_SIDE] {
        return Err(shape_err("last layer output is not [1, 28, 28]"));
    }
    let in_len = in_shape.iter().map(|&d| d as u64).product::<u64>();
    let out_len = out_shape.iter().map(|&d| d as u64).product::<u64>();
    if in_len > MAX_ACTIVATION || out_len > MAX_ACTIVATION {
        return Err(shape_err("activation larger than MAX_ACTIVATION elements"));
    }
    let exp_ok = |e: i8| EXP_RANGE.contains(&(e as i32));
    if !exp_ok(r.in_exp) || !exp_ok(r.out_exp) || (last && r.out_exp != 0) {
        return Err(BlobError::BadExponent { layer: i });
    }
    let (stride, padding, taps, out_channels, weight_len) = match kind {
        LayerKind::Dense => {
            if r.kernel != 0 || r.stride != 0 || r.padding != 0 || r.taps != 0 {
                return Err(shape_err("dense layer with convolution parameters"));
            }
            (0, 0, 0, out_len, in_len * out_len)
        }
        LayerKind::ConvTranspose => {
            if conditional {
                return Err(shape_err("the class input needs a dense first layer"));
            }
            let (k, s, p) = (r.kernel as usize, r.stride as usize, r.padding as usize);
            if k == 0 || s == 0 || p >= k {
                return Err(shape_err("bad kernel, stride or padding"));
            }
            let t = k.div_ceil(s);
            if t > MAX_TAPS || r.taps as usize != t {
                return Err(shape_err("taps is not ceil(kernel / stride) or too large"));
            }
            if in_shape[1..]
                .iter()
                .zip(&out_shape[1..])
                .any(|(&i, &o)| (i - 1) * s + k != o + 2 * p)
            {
                return Err(shape_err(
                    "output size is not (in - 1) * stride - 2 * padding + kernel",
                ));
            }
            let w = out_shape[0] as u64 * (s * s * t * t) as u64 * in_shape[0] as u64;
            (s, p, t, out_shape[0] as u64, w)
        }
    };
    let bias_rows = if conditional { num_classes } else { 1 };
    let bias_len = 4 * out_channels * bias_rows as u64;
    let out_channels = out_channels as usize;
    let weight = as_i8(tensor(
        blob,
        table_end,
        i,
        TensorName::Weight,
        r.weight,
        weight_len,
    )?);
    let bias = tensor(blob, table_end, i, TensorName::Bias, r.bias, bias_len)?;
    let requant = as_i8(tensor(
        blob,
        table_end,
        i,
        TensorName::Requant,
        r.requant,
        out_channels as u64,
    )?);
    if requant.iter().any(|&e| !exp_ok(e)) {
        return Err(BlobError::BadExponent { layer: i });
    }
    // Accumulator bound: 127 · Σ|w| over one output value's weights + the largest |bias|.
    let block = weight.len() / out_channels;
    let groups = if kind == LayerKind::Dense {
        1
    } else {
        stride * stride
    };
    for (o, w) in weight.chunks_exact(block).enumerate() {
        let wmax = w
            .chunks_exact(block / groups)
            .map(|g| g.iter().map(|&v| (v as i64).abs()).sum::<i64>())
            .max()
            .unwrap_or(0);
        let bmax = (0..bias_rows)
            .map(|row| (i32_at(bias, row * out_channels + o) as i64).abs())
            .max()
            .unwrap_or(0);
        if ACC_INPUT_MAX * wmax + bmax >= ACC_LIMIT {
            return Err(BlobError::AccumulatorRange {
                layer: i,
                channel: o,
            });
        }
    }
    Ok(Layer {
        kind,
        act,
        alpha: r.alpha,
        in_shape,
        out_shape,
        stride,
        padding,
        taps,
        weight,
        bias,
        requant,
    })
}

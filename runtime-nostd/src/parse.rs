//! Validation of a blob: the header, then every layer record against the one before it, its
//! tensors and the accumulator bound. Everything [`crate::Model::generate`] indexes without a
//! check is checked here.

use crate::error::{BlobError, TensorName};
use crate::format::{
    ACC_INPUT_MAX, ACC_LIMIT, Activation, HEADER_LEN, Header, IMAGE_SIDE, LAYER_RECORD_LEN,
    LayerKind, LayerRecord, MAGIC, MAX_LAYERS, MAX_TAPS, QUAD, TENSOR_ALIGN, TensorRef, VERSION,
    WeightGeometry, blob_crc, layer_record_offset,
};
use crate::forward::{Layer, as_i8, i32_at};
use crate::scratch::slot_sizes;

/// Largest activation (elements) a layer may read or write.
pub const MAX_ACTIVATION: u64 = 1 << 20;

/// Exponents must stay well inside f32's normal range so `2^e` scaling is exact.
const EXP_RANGE: core::ops::RangeInclusive<i32> = -100..=100;

fn exp_ok(e: i8) -> bool {
    EXP_RANGE.contains(&(e as i32))
}

/// Checks the header (magic, version, lengths, CRC, reserved fields, model dimensions); returns
/// it and the blob (`bytes` cut to `total_len`).
pub(crate) fn header(bytes: &[u8]) -> Result<(Header, &[u8]), BlobError> {
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
    if layer_record_offset(n) > total {
        return Err(BlobError::BadTotalLength(h.total_len));
    }
    if !exp_ok(h.input_exp) {
        return Err(BlobError::BadExponent { layer: 0 });
    }
    Ok((h, blob))
}

/// Validates every layer record of a blob whose [`header`] is valid — each layer on its own, the
/// chain of shapes and exponents, and the scratch size the header states — into `layers`
/// (empty); returns the sizes of the two scratch slots. (An out-parameter: the caller's `Model`
/// holds the layers, and a returned copy would double the largest stack frame of a parse.)
pub(crate) fn layers<'a>(
    h: &Header,
    blob: &'a [u8],
    layers: &mut heapless::Vec<Layer<'a>, MAX_LAYERS>,
) -> Result<[usize; 2], BlobError> {
    let n = h.num_layers as usize;
    let mut inputs = [0usize; MAX_LAYERS];
    let mut prev_shape = [h.z_dim as usize, 1, 1];
    let mut prev_exp = h.input_exp;
    for (i, input) in inputs.iter_mut().enumerate().take(n) {
        let at = layer_record_offset(i);
        let rec = LayerRecord::from_bytes(&blob[at..]).ok_or(BlobError::Truncated {
            needed: at + LAYER_RECORD_LEN,
            actual: blob.len(),
        })?;
        let place = Place {
            index: i,
            last: i + 1 == n,
            classes: if i == 0 { h.num_classes as usize } else { 0 },
            table_end: layer_record_offset(n),
        };
        let layer = layer(blob, &place, &rec)?;
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
    Ok(slots)
}

/// Where a layer sits in its blob.
struct Place {
    /// Layer index.
    index: usize,
    /// Whether it is the last layer (tanh, the image).
    last: bool,
    /// Classes whose bias rows it holds (first layer of a conditional model), else 0.
    classes: usize,
    /// End of the layer table: tensors start at or after it.
    table_end: usize,
}

/// Validates one layer record and borrows its tensors.
fn layer<'a>(blob: &'a [u8], at: &Place, r: &LayerRecord) -> Result<Layer<'a>, BlobError> {
    let (kind, act) = codes(at, r)?;
    let (in_shape, out_shape) = shapes(at, r)?;
    let conv = match kind {
        LayerKind::Dense => dense_geometry(at, r, in_shape, out_shape)?,
        LayerKind::ConvTranspose => conv_geometry(at, r, in_shape, out_shape)?,
    };
    let out_channels = conv.out_channels;
    let bias_rows = at.classes.max(1);
    let tensor = |name, t, expected| tensor(blob, at, name, t, expected);
    let weight = tensor(TensorName::Weight, r.weight, conv.geom.len())?;
    let bias_len = 4 * (out_channels * bias_rows) as u64;
    let bias = tensor(TensorName::Bias, r.bias, bias_len)?;
    let requant = as_i8(tensor(TensorName::Requant, r.requant, out_channels as u64)?);
    if !requant.iter().all(|&e| exp_ok(e)) {
        return Err(BlobError::BadExponent { layer: at.index });
    }
    accumulator_bound(at.index, &conv.geom, weight, bias, out_channels, bias_rows)?;
    Ok(Layer {
        kind,
        act,
        alpha: r.alpha,
        in_shape,
        out_shape,
        stride: conv.stride,
        padding: conv.padding,
        taps: conv.taps,
        geom: conv.geom,
        weight,
        wide: &[],
        bias,
        requant,
    })
}

/// The kind and activation codes, and the LeakyReLU slope.
fn codes(at: &Place, r: &LayerRecord) -> Result<(LayerKind, Activation), BlobError> {
    let i = at.index;
    let kind = LayerKind::from_code(r.kind).ok_or(BlobError::UnknownLayerKind {
        layer: i,
        code: r.kind,
    })?;
    let act = Activation::from_code(r.activation)
        .filter(|&a| (a == Activation::Tanh) == at.last)
        .ok_or(BlobError::BadActivation {
            layer: i,
            code: r.activation,
        })?;
    let alpha_ok = if act == Activation::LeakyRelu {
        r.alpha.is_finite()
    } else {
        r.alpha.to_bits() == 0
    };
    if !alpha_ok {
        return Err(BlobError::BadAlpha { layer: i });
    }
    Ok((kind, act))
}

/// The input and output shapes (non-zero, within [`MAX_ACTIVATION`], the image last) and the
/// exponents.
fn shapes(at: &Place, r: &LayerRecord) -> Result<([usize; 3], [usize; 3]), BlobError> {
    let shape_err = |what| BlobError::BadShape {
        layer: at.index,
        what,
    };
    let in_shape = r.in_shape.map(usize::from);
    let out_shape = r.out_shape.map(usize::from);
    if in_shape.contains(&0) || out_shape.contains(&0) {
        return Err(shape_err("zero dimension"));
    }
    if at.last && out_shape != [1, IMAGE_SIDE, IMAGE_SIDE] {
        return Err(shape_err("last layer output is not [1, 28, 28]"));
    }
    let len = |s: [usize; 3]| s.iter().map(|&d| d as u64).product::<u64>();
    if len(in_shape) > MAX_ACTIVATION || len(out_shape) > MAX_ACTIVATION {
        return Err(shape_err("activation larger than MAX_ACTIVATION elements"));
    }
    if !exp_ok(r.in_exp) || !exp_ok(r.out_exp) || (at.last && r.out_exp != 0) {
        return Err(BlobError::BadExponent { layer: at.index });
    }
    Ok((in_shape, out_shape))
}

/// What the kind of a layer determines: its weight geometry, convolution parameters and the
/// number of output channels (bias and exponent entries).
struct Conv {
    stride: usize,
    padding: usize,
    taps: usize,
    out_channels: usize,
    geom: WeightGeometry,
}

fn dense_geometry(
    at: &Place,
    r: &LayerRecord,
    in_shape: [usize; 3],
    out_shape: [usize; 3],
) -> Result<Conv, BlobError> {
    if r.kernel != 0 || r.stride != 0 || r.padding != 0 || r.taps != 0 {
        return Err(BlobError::BadShape {
            layer: at.index,
            what: "dense layer with convolution parameters",
        });
    }
    // Both below MAX_ACTIVATION (checked by `shapes`).
    let (inputs, outputs) = (in_shape.iter().product(), out_shape.iter().product());
    Ok(Conv {
        stride: 0,
        padding: 0,
        taps: 0,
        out_channels: outputs,
        geom: WeightGeometry::dense(inputs, outputs),
    })
}

fn conv_geometry(
    at: &Place,
    r: &LayerRecord,
    in_shape: [usize; 3],
    out_shape: [usize; 3],
) -> Result<Conv, BlobError> {
    let shape_err = |what| BlobError::BadShape {
        layer: at.index,
        what,
    };
    if at.classes > 0 {
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
    Ok(Conv {
        stride: s,
        padding: p,
        taps: t,
        out_channels: out_shape[0],
        geom: WeightGeometry::conv(in_shape[0], out_shape[0], s, t),
    })
}

/// The bytes of tensor `t`: aligned, `expected` bytes long, after the layer table and inside the
/// blob.
fn tensor<'a>(
    blob: &'a [u8],
    at: &Place,
    name: TensorName,
    t: TensorRef,
    expected: u64,
) -> Result<&'a [u8], BlobError> {
    let layer = at.index;
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
        Some(end) if start >= at.table_end && end <= blob.len() => Ok(&blob[start..end]),
        _ => Err(BlobError::TensorOutOfBounds {
            layer,
            tensor: name,
        }),
    }
}

/// Accumulator bound: `128 · Σ|w|` over one output value's weights plus its largest `|bias|`
/// stays below [`ACC_LIMIT`]. The quad layout holds a group's four values side by side, so the
/// sums are taken group by group.
fn accumulator_bound(
    layer: usize,
    geom: &WeightGeometry,
    weight: &[u8],
    bias: &[u8],
    out_channels: usize,
    bias_rows: usize,
) -> Result<(), BlobError> {
    let mut sums = [0i64; QUAD];
    for (at, &byte) in weight.iter().enumerate() {
        let word_in_group = at % geom.group_bytes() / 4;
        let (pair, b) = (word_in_group % 2, at % 4);
        let j = 2 * pair + usize::from(b % 2 == 1);
        let w = (byte ^ if b % 2 == 0 { 0x80 } else { 0 }) as i8;
        sums[j] += (w as i64).abs();
        if (at + 1) % geom.group_bytes() != 0 {
            continue;
        }
        let group = at / geom.group_bytes();
        for (j, sum) in sums.iter_mut().enumerate() {
            let v = group * QUAD + j;
            let wmax = core::mem::take(sum);
            if v >= geom.values {
                continue;
            }
            let o = v % out_channels;
            let bmax = (0..bias_rows)
                .map(|row| (i32_at(bias, row * out_channels + o) as i64).abs())
                .max()
                .unwrap_or(0);
            if ACC_INPUT_MAX * wmax + bmax >= ACC_LIMIT {
                return Err(BlobError::AccumulatorRange { layer, channel: o });
            }
        }
    }
    Ok(())
}

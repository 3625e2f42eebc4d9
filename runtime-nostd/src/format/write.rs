//! The blob writer (feature `alloc`): what the exporter hands over, in the ONNX (channel-first)
//! layouts, becomes a sealed blob in the layouts of the [module docs](super) — the HWC order of
//! dense rows and columns, the output phases of transposed convolutions, the quad weight layout,
//! 4-aligned tensors, the header and the CRC.
//!
//! ```
//! use runtime_nostd::Model;
//! use runtime_nostd::format::Activation;
//! use runtime_nostd::format::write::{BlobMeta, LayerData, Op, write_blob};
//!
//! // One dense layer, z (2) → a [1, 28, 28] image, every weight 1, no bias.
//! let weight = vec![1i8; 784 * 2];
//! let layer = LayerData {
//!     op: Op::Dense,
//!     activation: Activation::Tanh,
//!     alpha: 0.0,
//!     in_exp: 0,
//!     out_exp: 0,
//!     in_shape: [2, 1, 1],
//!     out_shape: [1, 28, 28],
//!     weight: &weight,
//!     bias: &[0; 784],
//!     requant: &[-4; 784],
//! };
//! let meta = BlobMeta { z_dim: 2, num_classes: 0, input_exp: 0, iteration: 7, preset: "demo" };
//! let blob = write_blob(&meta, &[layer]).unwrap();
//! let model = Model::parse(&blob).unwrap();
//! assert_eq!((model.z_dim(), model.iteration(), model.preset()), (2, 7, "demo"));
//! ```

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::{
    Activation, HEADER_LEN, Header, LayerKind, LayerRecord, MAGIC, TensorRef, VERSION,
    WeightGeometry, align_up, layer_record_offset, seal,
};
use crate::TensorName;

/// The compute part of a layer handed to [`write_blob`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Fully connected.
    Dense,
    /// 2-D transposed convolution (square kernel, ONNX semantics).
    ConvTranspose {
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding on every side.
        padding: usize,
    },
}

/// One quantized fused layer in the exporter's layouts (channel-first, ONNX).
#[derive(Clone, Copy, Debug)]
pub struct LayerData<'a> {
    /// Dense or transposed convolution.
    pub op: Op,
    /// The activation attached to the layer.
    pub activation: Activation,
    /// LeakyReLU slope (0 for the other activations).
    pub alpha: f32,
    /// Input activation exponent (real = `q · 2^-in_exp`).
    pub in_exp: i8,
    /// Output activation exponent (0 for the tanh layer).
    pub out_exp: i8,
    /// Input shape `[C, H, W]` (the first layer's is `[z_dim, 1, 1]`).
    pub in_shape: [usize; 3],
    /// Output shape `[C, H, W]`.
    pub out_shape: [usize; 3],
    /// int8 weights. Dense: `[out][in]`, both sides in `CHW` feature order (label columns
    /// excluded); transposed conv: `[in_c][out_c][k][k]`.
    pub weight: &'a [i8],
    /// int32 biases `[rows][out]`, `out` = output features (dense, `CHW` order) or channels;
    /// `rows` = classes for the first layer of a conditional model (the class table), else 1.
    pub bias: &'a [i32],
    /// Requantization exponent per output feature (dense, `CHW` order) or channel.
    pub requant: &'a [i8],
}

/// The header fields that are not derived from the layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobMeta<'a> {
    /// Latent length.
    pub z_dim: usize,
    /// Classes of a conditional model, 0 when unconditional.
    pub num_classes: usize,
    /// Latent quantization exponent.
    pub input_exp: i8,
    /// Generator iteration (informational).
    pub iteration: u64,
    /// Preset name (informational; ASCII, at most 8 bytes are kept).
    pub preset: &'a str,
}

/// Why a blob cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// A dimension, count or offset does not fit its field.
    TooLarge {
        /// What overflowed.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// A tensor's length does not match the layer's shapes.
    TensorLength {
        /// Layer index.
        layer: usize,
        /// Which tensor.
        tensor: TensorName,
        /// Length the shapes imply.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// A shape the format cannot hold: a zero dimension, or a zero kernel or stride.
    BadShape {
        /// Layer index.
        layer: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// [`BlobBuilder::finish`] with fewer layers than announced.
    MissingLayers {
        /// Layers announced to [`BlobBuilder::new`].
        expected: usize,
        /// Layers pushed.
        pushed: usize,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { what, value } => write!(f, "{what} ({value}) does not fit the blob"),
            Self::TensorLength {
                layer,
                tensor,
                expected,
                actual,
            } => write!(
                f,
                "layer {layer}: {tensor} has {actual} values, expected {expected}"
            ),
            Self::BadShape { layer, what } => write!(f, "layer {layer}: {what}"),
            Self::MissingLayers { expected, pushed } => {
                write!(f, "{pushed} layers written, {expected} announced")
            }
        }
    }
}

impl core::error::Error for WriteError {}

fn fit<T: TryFrom<u64>>(what: &'static str, value: usize) -> Result<T, WriteError> {
    T::try_from(value as u64).map_err(|_| WriteError::TooLarge {
        what,
        value: value as u64,
    })
}

/// The position of every element of a `[C, H, W]` map in the runtime's `HWC` order: element
/// `(c, y, x)`, at `(c · H + y) · W + x` in `CHW` order, is at `p[(c · H + y) · W + x]`.
///
/// ```
/// # use runtime_nostd::format::write::chw_to_hwc;
/// assert_eq!(chw_to_hwc([2, 1, 3]), [0, 2, 4, 1, 3, 5]);
/// ```
pub fn chw_to_hwc([c, h, w]: [usize; 3]) -> Vec<usize> {
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

/// Re-orders the transposed-convolution weights `w` (ONNX `[in_c][out_c][k][k]`) by output phase:
/// `[out_c][py][px][ty][tx][in_c]` (`py, px < stride`, `ty, tx < taps`), kernel index
/// `(py + ty · s, px + tx · s)`, zero where that is `≥ k`. Blob version 1 stored this order; the
/// quad layout reads it as `w[v][t][i]` with `v = (py · s + px) · out_c + o` ([`pack_phases`]).
///
/// # Panics
/// If `w` is shorter than `cin · cout · k²`, or `s` or `cin` is 0 ([`write_blob`] checks).
pub fn phase_order(w: &[i8], cin: usize, cout: usize, k: usize, s: usize) -> Vec<i8> {
    let t = k.div_ceil(s);
    let mut out = vec![0i8; cout * s * s * t * t * cin];
    let kernel_index = |phase: usize, tap: usize| phase + tap * s;
    for (block, chunk) in out.chunks_exact_mut(cin).enumerate() {
        // block = (((o · s + py) · s + px) · t + ty) · t + tx
        let (tx, ty) = (block % t, block / t % t);
        let (px, py, o) = (
            block / (t * t) % s,
            block / (t * t * s) % s,
            block / (t * t * s * s),
        );
        let (ky, kx) = (kernel_index(py, ty), kernel_index(px, tx));
        if ky >= k || kx >= k {
            continue;
        }
        for (ci, dst) in chunk.iter_mut().enumerate() {
            *dst = w[((ci * cout + o) * k + ky) * k + kx];
        }
    }
    out
}

/// The quad layout ([`WeightGeometry`]) of transposed-convolution weights in the phase order of
/// [`phase_order`] (`taps = ceil(k / s)`).
///
/// # Panics
/// If `w` is shorter than `cout · s² · taps² · cin`, or `cout` is 0 ([`write_blob`] checks).
pub fn pack_phases(w: &[i8], cin: usize, cout: usize, s: usize, taps: usize) -> Vec<u8> {
    let geom = WeightGeometry::conv(cin, cout, s, taps);
    let mut packed = vec![0u8; geom.len() as usize];
    geom.pack(&mut packed, |v, tap, i| {
        let (phase, o) = (v / cout, v % cout);
        w[((o * s * s + phase) * taps * taps + tap) * cin + i]
    });
    packed
}

/// The quad layout of dense weights `w` (`[out][in]`, rows and columns already in the blob's
/// order).
///
/// # Panics
/// If `w` is shorter than `inputs · outputs` ([`write_blob`] checks).
pub fn pack_dense(w: &[i8], inputs: usize, outputs: usize) -> Vec<u8> {
    let geom = WeightGeometry::dense(inputs, outputs);
    let mut packed = vec![0u8; geom.len() as usize];
    geom.pack(&mut packed, |v, _, i| w[v * inputs + i]);
    packed
}

/// A layer's tensors in the blob's order (weights in the quad layout).
struct Tensors {
    weight: Vec<u8>,
    bias: Vec<i32>,
    requant: Vec<i8>,
}

fn check_len(
    layer: usize,
    tensor: TensorName,
    actual: usize,
    expected: usize,
) -> Result<(), WriteError> {
    if actual == expected {
        return Ok(());
    }
    Err(WriteError::TensorLength {
        layer,
        tensor,
        expected,
        actual,
    })
}

/// Dense tensors in the blob's order: rows and columns permuted from `CHW` to `HWC`, biases
/// and exponents with the rows, weights in the quad layout.
fn dense_tensors(i: usize, l: &LayerData<'_>) -> Result<Tensors, WriteError> {
    let inputs = l.in_shape.iter().product::<usize>();
    let outputs = l.out_shape.iter().product::<usize>();
    check_len(i, TensorName::Weight, l.weight.len(), inputs * outputs)?;
    check_len(i, TensorName::Requant, l.requant.len(), outputs)?;
    if outputs == 0 || !l.bias.len().is_multiple_of(outputs) {
        check_len(i, TensorName::Bias, l.bias.len(), outputs)?;
    }
    let (pin, pout) = (chw_to_hwc(l.in_shape), chw_to_hwc(l.out_shape));
    let mut w = vec![0i8; l.weight.len()];
    for (row, &to) in l.weight.chunks_exact(inputs).zip(&pout) {
        for (&v, &col) in row.iter().zip(&pin) {
            w[to * inputs + col] = v;
        }
    }
    let mut bias = vec![0i32; l.bias.len()];
    for (dst, src) in bias
        .chunks_exact_mut(outputs)
        .zip(l.bias.chunks_exact(outputs))
    {
        for (&v, &to) in src.iter().zip(&pout) {
            dst[to] = v;
        }
    }
    let mut requant = vec![0i8; outputs];
    for (&e, &to) in l.requant.iter().zip(&pout) {
        requant[to] = e;
    }
    Ok(Tensors {
        weight: pack_dense(&w, inputs, outputs),
        bias,
        requant,
    })
}

/// Transposed-convolution tensors in the blob's order: weights by output phase, in the quad
/// layout; biases and exponents per channel as given.
fn conv_tensors(i: usize, l: &LayerData<'_>, k: usize, s: usize) -> Result<Tensors, WriteError> {
    let (cin, cout) = (l.in_shape[0], l.out_shape[0]);
    check_len(i, TensorName::Weight, l.weight.len(), cin * cout * k * k)?;
    check_len(i, TensorName::Bias, l.bias.len(), cout)?;
    check_len(i, TensorName::Requant, l.requant.len(), cout)?;
    let taps = k.div_ceil(s);
    Ok(Tensors {
        weight: pack_phases(&phase_order(l.weight, cin, cout, k, s), cin, cout, s, taps),
        bias: l.bias.to_vec(),
        requant: l.requant.to_vec(),
    })
}

/// Layer `i`'s record (tensor positions unset) and its tensors.
fn encode(i: usize, l: &LayerData<'_>) -> Result<(LayerRecord, Tensors), WriteError> {
    let bad = |what| Err(WriteError::BadShape { layer: i, what });
    if l.in_shape.contains(&0) || l.out_shape.contains(&0) {
        return bad("zero dimension");
    }
    if let Op::ConvTranspose { kernel, stride, .. } = l.op
        && (kernel == 0 || stride == 0)
    {
        return bad("zero kernel or stride");
    }
    let (kind, conv, tensors) = match l.op {
        Op::Dense => (LayerKind::Dense, [0; 4], dense_tensors(i, l)?),
        Op::ConvTranspose {
            kernel: k,
            stride: s,
            padding: p,
        } => {
            let t = k.div_ceil(s);
            let conv = [
                fit("kernel", k)?,
                fit("stride", s)?,
                fit("padding", p)?,
                fit("taps", t)?,
            ];
            (LayerKind::ConvTranspose, conv, conv_tensors(i, l, k, s)?)
        }
    };
    let shape = |s: [usize; 3]| -> Result<[u16; 3], WriteError> {
        Ok([
            fit("dimension", s[0])?,
            fit("dimension", s[1])?,
            fit("dimension", s[2])?,
        ])
    };
    let [kernel, stride, padding, taps] = conv;
    let record = LayerRecord {
        kind: kind as u8,
        activation: l.activation as u8,
        in_exp: l.in_exp,
        out_exp: l.out_exp,
        in_shape: shape(l.in_shape)?,
        out_shape: shape(l.out_shape)?,
        kernel,
        stride,
        padding,
        taps,
        alpha: l.alpha,
        weight: TensorRef::default(),
        bias: TensorRef::default(),
        requant: TensorRef::default(),
    };
    Ok((record, tensors))
}

/// Writes a sealed blob from quantized layers in the exporter's layouts (see [`LayerData`]).
pub fn write_blob(meta: &BlobMeta<'_>, layers: &[LayerData<'_>]) -> Result<Vec<u8>, WriteError> {
    let mut header = Header {
        magic: MAGIC,
        version: VERSION,
        header_len: HEADER_LEN as u16,
        total_len: 0,
        crc32: 0,
        z_dim: fit("z_dim", meta.z_dim)?,
        num_classes: fit("num_classes", meta.num_classes)?,
        num_layers: 0,
        input_exp: meta.input_exp,
        flags: 0,
        scratch_bytes: 0,
        layer_table_offset: HEADER_LEN as u32,
        iteration: meta.iteration,
        preset: [0; 8],
    };
    for (d, s) in header.preset.iter_mut().zip(meta.preset.bytes()) {
        *d = s;
    }
    let mut builder = BlobBuilder::new(header, layers.len());
    for (i, l) in layers.iter().enumerate() {
        let (record, t) = encode(i, l)?;
        let bias: Vec<u8> = t.bias.iter().flat_map(|v| v.to_le_bytes()).collect();
        let requant: Vec<u8> = t.requant.iter().map(|&v| v as u8).collect();
        builder.push(record, &t.weight, &bias, &requant)?;
    }
    builder.finish()
}

/// Assembles a blob from records and encoded tensors: places the tensors (4-aligned, in the
/// order pushed), fills in the derived header fields (`total_len`, `num_layers`,
/// `scratch_bytes`, ...) and seals it. [`write_blob`] is the usual entry point; this one also
/// re-packs existing blobs.
#[derive(Clone, Debug)]
pub struct BlobBuilder {
    header: Header,
    capacity: usize,
    records: Vec<LayerRecord>,
    data: Vec<u8>,
}

impl BlobBuilder {
    /// A builder for `num_layers` layers; `header` gives the fields not derived from them.
    pub fn new(header: Header, num_layers: usize) -> Self {
        Self {
            header,
            capacity: num_layers,
            records: Vec::with_capacity(num_layers),
            data: Vec::new(),
        }
    }

    fn data_start(&self) -> usize {
        layer_record_offset(self.capacity)
    }

    fn place(&mut self, bytes: &[u8]) -> Result<TensorRef, WriteError> {
        let offset = self.data_start() + self.data.len();
        self.data.extend_from_slice(bytes);
        let end = align_up(self.data_start() + self.data.len());
        self.data.resize(end - self.data_start(), 0);
        Ok(TensorRef {
            offset: fit("blob length", offset)?,
            len: fit("tensor length", bytes.len())?,
        })
    }

    /// Appends a layer: `record` (its tensor positions are overwritten) and its encoded tensors.
    pub fn push(
        &mut self,
        mut record: LayerRecord,
        weight: &[u8],
        bias: &[u8],
        requant: &[u8],
    ) -> Result<(), WriteError> {
        if self.records.len() == self.capacity {
            return Err(WriteError::TooLarge {
                what: "layers pushed",
                value: self.capacity as u64 + 1,
            });
        }
        record.weight = self.place(weight)?;
        record.bias = self.place(bias)?;
        record.requant = self.place(requant)?;
        self.records.push(record);
        Ok(())
    }

    /// The sealed blob.
    pub fn finish(self) -> Result<Vec<u8>, WriteError> {
        if self.records.len() != self.capacity {
            return Err(WriteError::MissingLayers {
                expected: self.capacity,
                pushed: self.records.len(),
            });
        }
        let total = self.data_start() + self.data.len();
        let inputs: Vec<usize> = self
            .records
            .iter()
            .map(|r| r.in_shape.iter().map(|&d| d as usize).product())
            .collect();
        let mut header = self.header;
        header.header_len = HEADER_LEN as u16;
        header.layer_table_offset = HEADER_LEN as u32;
        header.num_layers = fit("num_layers", self.records.len())?;
        header.total_len = fit("blob length", total)?;
        header.scratch_bytes = fit("scratch bytes", crate::scratch_bytes(&inputs))?;
        header.crc32 = 0;
        let mut blob = Vec::with_capacity(total);
        blob.extend_from_slice(&header.to_bytes());
        for r in &self.records {
            blob.extend_from_slice(&r.to_bytes());
        }
        blob.extend_from_slice(&self.data);
        seal(&mut blob);
        Ok(blob)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> BlobMeta<'static> {
        BlobMeta {
            z_dim: 2,
            num_classes: 0,
            input_exp: 0,
            iteration: 0,
            preset: "t",
        }
    }

    fn dense<'a>(weight: &'a [i8], bias: &'a [i32], requant: &'a [i8]) -> LayerData<'a> {
        LayerData {
            op: Op::Dense,
            activation: Activation::Tanh,
            alpha: 0.0,
            in_exp: 0,
            out_exp: 0,
            in_shape: [2, 1, 1],
            out_shape: [1, 28, 28],
            weight,
            bias,
            requant,
        }
    }

    #[test]
    fn bad_layers_are_errors_not_panics() {
        let (w, b, e) = (vec![1i8; 2 * 784], vec![0i32; 784], vec![0i8; 784]);
        assert!(write_blob(&meta(), &[dense(&w, &b, &e)]).is_ok());
        let short = dense(&w[1..], &b, &e);
        assert!(matches!(
            write_blob(&meta(), &[short]),
            Err(WriteError::TensorLength { layer: 0, .. })
        ));
        let mut zero = dense(&[], &[], &[]);
        zero.in_shape = [0, 1, 1];
        zero.out_shape = [0, 1, 1];
        assert!(matches!(
            write_blob(&meta(), &[zero]),
            Err(WriteError::BadShape { layer: 0, .. })
        ));
        let mut conv = dense(&w, &b, &e);
        conv.op = Op::ConvTranspose {
            kernel: 4,
            stride: 0,
            padding: 1,
        };
        assert!(matches!(
            write_blob(&meta(), &[conv]),
            Err(WriteError::BadShape { layer: 0, .. })
        ));
        let builder = BlobBuilder::new(Header::from_bytes(&[0; HEADER_LEN]).unwrap().0, 1);
        assert_eq!(
            builder.finish(),
            Err(WriteError::MissingLayers {
                expected: 1,
                pushed: 0
            })
        );
    }
}

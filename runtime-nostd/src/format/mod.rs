//! The `.tgb` blob format: the single definition shared by the reader ([`crate::Model::parse`])
//! and the writer (`format::write`, feature `alloc`, which the `export` crate calls). Nothing else
//! declares these layouts.
//!
//! Everything is little-endian. Offsets are in bytes from the start of the blob.
//!
//! # Layout
//!
//! ```text
//! +---------------------------+ 0
//! | Header (64 bytes)         |
//! +---------------------------+ HEADER_LEN
//! | LayerRecord × num_layers  |  48 bytes each
//! +---------------------------+
//! | tensors, each starting at |  offsets are multiples of TENSOR_ALIGN (4), zero padding between
//! | a 4-aligned offset        |
//! +---------------------------+ total_len
//! ```
//!
//! ## Header ([`Header`], 64 bytes)
//!
//! | offset | size | field | meaning |
//! |-------:|-----:|-------|---------|
//! | 0  | 4 | `magic` | [`MAGIC`] = `b"TGNB"` |
//! | 4  | 2 | `version` | [`VERSION`] (2; version 1 had the weight layout of one output after another and is rejected with [`crate::BlobError::UnsupportedVersion`]) |
//! | 6  | 2 | `header_len` | [`HEADER_LEN`] (64) |
//! | 8  | 4 | `total_len` | length of the blob in bytes (the slice handed to the parser may be longer: trailing flash padding is ignored) |
//! | 12 | 4 | `crc32` | CRC-32 (ISO-HDLC, the zlib one: [`crc32`]) of bytes `0..12` followed by bytes `16..total_len` — see [`blob_crc`] |
//! | 16 | 2 | `z_dim` | latent length |
//! | 18 | 2 | `num_classes` | 0 (unconditional) or 1..=256 |
//! | 20 | 2 | `num_layers` | 1..=[`MAX_LAYERS`] |
//! | 22 | 1 | `input_exp` (i8) | the latent is quantized as `q = sat8(round_half_even(z · 2^input_exp))` |
//! | 23 | 1 | `flags` | 0 |
//! | 24 | 4 | `scratch_bytes` | scratch the forward pass needs; must equal what the parser derives from the layers |
//! | 28 | 4 | `layer_table_offset` | = `header_len` |
//! | 32 | 8 | `iteration` (u64) | generator iteration (informational) |
//! | 40 | 8 | `preset` | preset name, ASCII, NUL padded (informational) |
//! | 48 | 16 | reserved | must be zero |
//!
//! ## Layer record ([`LayerRecord`], 48 bytes)
//!
//! One record per *fused* layer: a dense or transposed-convolution layer with batch norm folded
//! into it and its activation attached. Reshapes are not layers: a dense layer's output shape is
//! the `[C, H, W]` map the following layer reads.
//!
//! | offset | size | field | meaning |
//! |-------:|-----:|-------|---------|
//! | 0  | 1 | `kind` | [`LayerKind`]: 1 dense, 2 transposed conv |
//! | 1  | 1 | `activation` | [`Activation`]: 0 identity, 1 ReLU, 2 LeakyReLU, 3 tanh (last layer only) |
//! | 2  | 1 | `in_exp` (i8) | input activation exponent: real = `q · 2^-in_exp`; equals the previous layer's `out_exp` (or `input_exp`) |
//! | 3  | 1 | `out_exp` (i8) | output activation exponent (0 for the tanh layer, whose output is the u8 image) |
//! | 4  | 6 | `in_c, in_h, in_w` (u16 ×3) | input shape; must equal the previous layer's output shape (first layer: `[z_dim, 1, 1]`) |
//! | 10 | 6 | `out_c, out_h, out_w` (u16 ×3) | output shape; the last layer's is `[1, 28, 28]` |
//! | 16 | 4 | `kernel, stride, padding, taps` (u8 ×4) | transposed conv only (0 for dense); `taps = ceil(kernel / stride)` |
//! | 20 | 4 | `alpha` (f32) | LeakyReLU slope (0 otherwise) |
//! | 24 | 8 | `weight_offset, weight_len` (u32 ×2) | int8 weights |
//! | 32 | 8 | `bias_offset, bias_len` (u32 ×2) | int32 biases |
//! | 40 | 8 | `requant_offset, requant_len` (u32 ×2) | i8 requantization exponent per output channel |
//!
//! ## Activation layout and tensors
//!
//! Activations are stored channel-last (`HWC`): element `(c, y, x)` of a `[C, H, W]` map is at
//! `(y · W + x) · C + c`. The writer permutes dense rows/columns so this holds.
//!
//! * **Weights** (both kinds) are stored in the *quad layout* ([`WeightGeometry`]) that the kernels
//!   read in loop order. A layer has `V` output values per input window and a window of `taps`
//!   segments of `cin` input values:
//!   * **dense** (`in = in_c·in_h·in_w`, `out = out_c·out_h·out_w` features): `V = out`, one tap,
//!     `cin = in`; logical weight `w[v][0][i]` is row `v`, column `i` of the `[out][in]` matrix.
//!   * **transposed conv** (`k`, `s`, `p`, `T = taps`): `V = s²·out_c`, `T²` taps, `cin = in_c`.
//!     Output value `v = (py·s + px)·out_c + o` is channel `o` of the output phase `(py, px)`
//!     (`py, px < s`), tap `t = ty·T + tx` (`ty, tx < T`), and logical weight `w[v][t][i]` is the
//!     ONNX weight `w[i][o][py + ty·s][px + tx·s]` (zero where that kernel index is `≥ k`). The
//!     output pixels `oy = by·s + py - p`, `ox = bx·s + px - p` of every phase share the *base*
//!     `(by, bx)`, and read input pixel `(by - ty, bx - tx)` at tap `(ty, tx)` (skipped when outside
//!     the input).
//!
//!   Output values are taken four at a time (group `g` holds `v = 4g..4g+4`, as pairs
//!   `(4g, 4g+1)` and `(4g+2, 4g+3)`), inputs two at a time (`i0 = 2q`, `i1 = 2q + 1`). Per group,
//!   per tap, per input pair there are two 4-byte words, one per output pair `(a, b)`, holding
//!   `[w(a,i0) ^ 0x80, w(b,i1), w(a,i1) ^ 0x80, w(b,i0)]` (the `a` weights offset by 128, so
//!   unsigned). Missing output values and inputs (`V` or `cin` not a multiple of 4 or 2) are zero
//!   weights. Length: `ceil(V/4) · taps · ceil(cin/2) · 8` bytes ([`WeightGeometry::len`]).
//!
//!   Why: with `M = 0xFF0000FF`, `word & M` is `(w(a,i0) + 128) + w(b,i0)·2^24` and
//!   `word.rotate_right(16) & M` is `(w(a,i1) + 128) + w(b,i1)·2^24`, so one 32×32→64-bit
//!   multiply-accumulate (`SMLAL` on a Cortex-M3) by the sign-extended input does *two* MACs, for
//!   output `a` in bits 0..24 (offset by `128·Σx`, subtracted afterwards) and output `b` above them.
//!   On a Cortex-M4, `UXTB16`/`SXTB16` unpack the same word into int16 pairs for `SMLAD`/`SMLADX`.
//!
//!   *Wide weights* are not part of the blob: a firmware with flash to spare builds them on the
//!   host from the blob (every quad-layout word as two int16-pair words, [`widen_quad_word`]) and
//!   hands them to [`crate::Model::use_wide_weights`], which checks them against the blob; the
//!   Cortex-M4 kernel then multiplies without unpacking (11 instead of 18 instructions per 16
//!   MACs) for twice the weights' flash.
//! * **Bias** `[out_c]` int32, or for the first layer of a conditional model a class table
//!   `[num_classes][out]`: the label's one-hot columns of the weight, added to the bias, are
//!   quantized into it (the label input therefore costs no multiply).
//! * **Requant exponents** `e[o]` (i8, one per output channel): `v = acc · 2^e[o]` is the output
//!   in units of the output scale (or, for the tanh layer, the real pre-activation value).
//!
//! # Arithmetic (shared with the int8 ONNX model)
//!
//! All scales are powers of two: activations `2^-a` per tensor, weights `2^-b[o]` per output
//! channel, biases `2^-(a + b[o])`. So `e[o] = out_exp - in_exp - b[o]` and
//!
//! ```text
//! acc  = bias[o] + Σ x_q · w_q                  (i32; exact, see below)
//! v    = f32(acc) · 2^e[o]                      (exact)
//! v    = act(v)                                 (ReLU: max(v, 0); LeakyReLU: v < 0 ? v · alpha : v, one f32 multiply)
//! q    = clamp(round_half_even(v), -128, 127)
//! ```
//!
//! The exporter guarantees (and the parser checks) `128 · Σ|w| + |bias| < 2^24` over every set of
//! weights feeding one output value, so every partial sum is an integer below 2^24 and therefore
//! *exact in f32, in any summation order*. That is why a float QDQ graph (DequantizeLinear →
//! Gemm/ConvTranspose → activation → QuantizeLinear, with these power-of-two scales) computes
//! bit-for-bit the same int8 codes as this integer pipeline. The last layer applies tanh to the
//! real value `v` in float and writes `round((tanh(v) + 1) / 2 · 255)` ([`crate::pixel_from_preactivation`]).

/// The four bytes every blob starts with.
pub const MAGIC: [u8; 4] = *b"TGNB";
/// The format version this crate reads and writes.
pub const VERSION: u16 = 2;
/// Size of the [`Header`] in bytes.
pub const HEADER_LEN: usize = 64;
/// Size of one [`LayerRecord`] in bytes.
pub const LAYER_RECORD_LEN: usize = 48;
/// Every tensor starts at a multiple of this many bytes from the start of the blob.
pub const TENSOR_ALIGN: usize = 4;
/// Most fused layers a blob may hold.
pub const MAX_LAYERS: usize = 8;
/// Most taps per dimension (`ceil(kernel / stride)`) of a transposed convolution.
pub const MAX_TAPS: usize = 4;
/// Every partial sum of an accumulator stays strictly below this magnitude (exact in f32):
/// `ACC_INPUT_MAX · Σ|w| + |bias| < ACC_LIMIT` for the weights of every output value.
pub const ACC_LIMIT: i64 = 1 << 24;
/// Largest magnitude of an int8 input activation (`-128`).
pub const ACC_INPUT_MAX: i64 = 128;
/// Byte offset of the CRC field in the header.
pub const CRC_OFFSET: usize = 12;
/// Side of the square output image.
pub const IMAGE_SIDE: usize = 28;
/// Pixels in the output image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// Output values per weight group of the quad layout (see the [module docs](self)).
pub const QUAD: usize = 4;
/// Bytes per (group, tap, input pair) of the quad layout: two words.
pub const QUAD_PAIR_BYTES: usize = 8;
/// The mask that extracts a packed operand from a quad-layout word (see the [module docs](self)).
pub const QUAD_MASK: u32 = 0xFF00_00FF;

/// Kind of a fused layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    /// Fully connected.
    Dense = 1,
    /// 2-D transposed convolution.
    ConvTranspose = 2,
}

impl LayerKind {
    /// Decodes the `kind` byte.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Dense),
            2 => Some(Self::ConvTranspose),
            _ => None,
        }
    }
}

/// Activation attached to a fused layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// No activation.
    Identity = 0,
    /// `max(v, 0)`.
    Relu = 1,
    /// `v < 0 ? v · alpha : v`.
    LeakyRelu = 2,
    /// `tanh`, then the u8 image (last layer only).
    Tanh = 3,
}

impl Activation {
    /// Decodes the `activation` byte.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Identity),
            1 => Some(Self::Relu),
            2 => Some(Self::LeakyRelu),
            3 => Some(Self::Tanh),
            _ => None,
        }
    }
}

mod geometry;
mod records;
#[cfg(feature = "alloc")]
pub mod write;

pub use geometry::{WIDE_PER_QUAD, WeightGeometry, widen_quad_word};
pub use records::{Header, LayerRecord, TensorRef};

/// Byte offset of layer `i`'s [`LayerRecord`] in a blob.
pub const fn layer_record_offset(i: usize) -> usize {
    HEADER_LEN + i * LAYER_RECORD_LEN
}

/// The blob's CRC: CRC-32/ISO-HDLC (the zlib one: reflected polynomial `0xEDB88320`, init and
/// final xor `0xFFFFFFFF`), table-driven (1 KiB of `.rodata`).
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 of `bytes` (the blob's CRC, see [`blob_crc`]).
///
/// ```
/// assert_eq!(runtime_nostd::format::crc32(b"123456789"), 0xCBF4_3926);
/// ```
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC.checksum(bytes)
}

/// The CRC a blob's header must hold: [`crc32`] of `blob[0..12]` followed by `blob[16..]`
/// (`blob` is exactly `total_len` bytes; `None` if it is shorter than the header).
pub fn blob_crc(blob: &[u8]) -> Option<u32> {
    if blob.len() < HEADER_LEN {
        return None;
    }
    let mut digest = CRC.digest();
    digest.update(&blob[..CRC_OFFSET]);
    digest.update(&blob[CRC_OFFSET + 4..]);
    Some(digest.finalize())
}

/// Seals a blob: stores [`blob_crc`] in its header's CRC field. `blob` is exactly the blob
/// (`total_len` bytes); returns `false`, changing nothing, if it is shorter than the header.
///
/// Tests that corrupt a blob on purpose reseal it to get past the CRC check:
///
/// ```
/// use runtime_nostd::format::{Header, blob_crc, seal};
///
/// let mut blob = [0u8; 64];
/// assert!(seal(&mut blob));
/// let (header, _) = Header::from_bytes(&blob).unwrap();
/// assert_eq!(Some(header.crc32), blob_crc(&blob));
/// assert!(!seal(&mut blob[..10]));
/// ```
pub fn seal(blob: &mut [u8]) -> bool {
    let Some(crc) = blob_crc(blob) else {
        return false;
    };
    blob[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    true
}

/// Rounds `n` up to a multiple of [`TENSOR_ALIGN`].
pub const fn align_up(n: usize) -> usize {
    n.div_ceil(TENSOR_ALIGN) * TENSOR_ALIGN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }
}

//! The `.tgb` blob format: the single definition shared by the reader ([`crate::Model::parse`])
//! and the writer (the `export` crate). Nothing else declares these layouts.
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
//! `(y · W + x) · C + c`. The exporter permutes dense rows/columns so this holds.
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

/// Shape of a layer's weights in the quad layout: `values` outputs per input window, `taps`
/// segments of `cin` inputs per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightGeometry {
    /// Output values per window (`V`).
    pub values: usize,
    /// Segments per window.
    pub taps: usize,
    /// Inputs per segment.
    pub cin: usize,
}

impl WeightGeometry {
    /// The geometry of a dense layer with `inputs` inputs and `outputs` outputs.
    pub const fn dense(inputs: usize, outputs: usize) -> Self {
        Self {
            values: outputs,
            taps: 1,
            cin: inputs,
        }
    }

    /// The geometry of a transposed convolution (`stride`, `taps = ceil(kernel / stride)`).
    pub const fn conv(cin: usize, cout: usize, stride: usize, taps: usize) -> Self {
        Self {
            values: stride * stride * cout,
            taps: taps * taps,
            cin,
        }
    }

    /// Weight groups (`ceil(values / QUAD)`).
    pub const fn groups(&self) -> usize {
        self.values.div_ceil(QUAD)
    }

    /// Input pairs per segment (`ceil(cin / 2)`).
    pub const fn pairs(&self) -> usize {
        self.cin.div_ceil(2)
    }

    /// Bytes of one group's weights.
    pub const fn group_bytes(&self) -> usize {
        self.taps * self.pairs() * QUAD_PAIR_BYTES
    }

    /// Bytes of all weights (as `u64`, so huge shapes cannot overflow).
    pub const fn len(&self) -> u64 {
        self.groups() as u64 * self.taps as u64 * self.pairs() as u64 * QUAD_PAIR_BYTES as u64
    }

    /// Whether there are no weights.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Byte offset of logical weight `w[v][tap][i]`, and whether it is stored offset by 128
    /// (`^ 0x80`).
    pub const fn position(&self, v: usize, tap: usize, i: usize) -> (usize, bool) {
        let (g, j) = (v / QUAD, v % QUAD);
        let word = ((g * self.taps + tap) * self.pairs() + i / 2) * QUAD_PAIR_BYTES + (j / 2) * 4;
        let (a, i0) = (j.is_multiple_of(2), i.is_multiple_of(2));
        let byte = match (a, i0) {
            (true, true) => 0,
            (false, false) => 1,
            (true, false) => 2,
            (false, true) => 3,
        };
        (word + byte, a)
    }

    /// Logical weight `w[v][tap][i]` read from quad-layout `bytes` (`bytes` must be
    /// [`len`](Self::len) long and the indices in range).
    pub fn get(&self, bytes: &[u8], v: usize, tap: usize, i: usize) -> i8 {
        let (at, flip) = self.position(v, tap, i);
        (bytes[at] ^ if flip { 0x80 } else { 0 }) as i8
    }

    /// Writes the quad layout of the logical weights `w(v, tap, i)` into `out` (
    /// [`len`](Self::len) bytes), padding included.
    pub fn pack(&self, out: &mut [u8], w: impl Fn(usize, usize, usize) -> i8) {
        for g in 0..self.groups() {
            for j in 0..QUAD {
                let v = g * QUAD + j;
                for tap in 0..self.taps {
                    for i in 0..2 * self.pairs() {
                        let value = if v < self.values && i < self.cin {
                            w(v, tap, i)
                        } else {
                            0
                        };
                        let (at, flip) = self.position(v, tap, i);
                        out[at] = value as u8 ^ if flip { 0x80 } else { 0 };
                    }
                }
            }
        }
    }
}

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

/// The fixed-size blob header. See the [module docs](self) for the byte layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Must be [`MAGIC`].
    pub magic: [u8; 4],
    /// Must be [`VERSION`].
    pub version: u16,
    /// Must be [`HEADER_LEN`].
    pub header_len: u16,
    /// Blob length in bytes.
    pub total_len: u32,
    /// CRC-32 over the blob except this field ([`blob_crc`]).
    pub crc32: u32,
    /// Latent length.
    pub z_dim: u16,
    /// Classes of a conditional model, 0 when unconditional.
    pub num_classes: u16,
    /// Number of layer records.
    pub num_layers: u16,
    /// Latent quantization exponent: `q = round(z · 2^input_exp)`.
    pub input_exp: i8,
    /// Reserved, 0.
    pub flags: u8,
    /// Scratch bytes the forward pass needs.
    pub scratch_bytes: u32,
    /// Offset of the first layer record (= `header_len`).
    pub layer_table_offset: u32,
    /// Generator iteration the weights come from.
    pub iteration: u64,
    /// Preset name, ASCII, NUL padded.
    pub preset: [u8; 8],
}

impl Header {
    /// Serializes the header (reserved bytes zero).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.magic);
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[6..8].copy_from_slice(&self.header_len.to_le_bytes());
        b[8..12].copy_from_slice(&self.total_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.crc32.to_le_bytes());
        b[16..18].copy_from_slice(&self.z_dim.to_le_bytes());
        b[18..20].copy_from_slice(&self.num_classes.to_le_bytes());
        b[20..22].copy_from_slice(&self.num_layers.to_le_bytes());
        b[22] = self.input_exp as u8;
        b[23] = self.flags;
        b[24..28].copy_from_slice(&self.scratch_bytes.to_le_bytes());
        b[28..32].copy_from_slice(&self.layer_table_offset.to_le_bytes());
        b[32..40].copy_from_slice(&self.iteration.to_le_bytes());
        b[40..48].copy_from_slice(&self.preset);
        b
    }

    /// Reads the header fields without validating them; `None` when `bytes` is shorter than
    /// [`HEADER_LEN`]. The returned flag tells whether the reserved bytes are all zero.
    pub fn from_bytes(bytes: &[u8]) -> Option<(Self, bool)> {
        let b: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        let h = Self {
            magic: [b[0], b[1], b[2], b[3]],
            version: u16_at(b, 4),
            header_len: u16_at(b, 6),
            total_len: u32_at(b, 8),
            crc32: u32_at(b, 12),
            z_dim: u16_at(b, 16),
            num_classes: u16_at(b, 18),
            num_layers: u16_at(b, 20),
            input_exp: b[22] as i8,
            flags: b[23],
            scratch_bytes: u32_at(b, 24),
            layer_table_offset: u32_at(b, 28),
            iteration: u64::from_le_bytes([b[32], b[33], b[34], b[35], b[36], b[37], b[38], b[39]]),
            preset: [b[40], b[41], b[42], b[43], b[44], b[45], b[46], b[47]],
        };
        let reserved_zero = b[48..].iter().all(|&x| x == 0);
        Some((h, reserved_zero))
    }
}

/// A tensor's position in the blob.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TensorRef {
    /// Byte offset from the start of the blob (multiple of [`TENSOR_ALIGN`]).
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

/// One fused layer's record. See the [module docs](self) for the byte layout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerRecord {
    /// [`LayerKind`] code.
    pub kind: u8,
    /// [`Activation`] code.
    pub activation: u8,
    /// Input activation exponent.
    pub in_exp: i8,
    /// Output activation exponent.
    pub out_exp: i8,
    /// Input shape `[C, H, W]`.
    pub in_shape: [u16; 3],
    /// Output shape `[C, H, W]`.
    pub out_shape: [u16; 3],
    /// Kernel size (transposed conv).
    pub kernel: u8,
    /// Stride (transposed conv).
    pub stride: u8,
    /// Padding (transposed conv).
    pub padding: u8,
    /// `ceil(kernel / stride)` (transposed conv).
    pub taps: u8,
    /// LeakyReLU slope.
    pub alpha: f32,
    /// int8 weights.
    pub weight: TensorRef,
    /// int32 biases (or the class table).
    pub bias: TensorRef,
    /// i8 requantization exponents.
    pub requant: TensorRef,
}

impl LayerRecord {
    /// Serializes the record.
    pub fn to_bytes(&self) -> [u8; LAYER_RECORD_LEN] {
        let mut b = [0u8; LAYER_RECORD_LEN];
        b[0] = self.kind;
        b[1] = self.activation;
        b[2] = self.in_exp as u8;
        b[3] = self.out_exp as u8;
        for (i, v) in self.in_shape.iter().chain(&self.out_shape).enumerate() {
            b[4 + 2 * i..6 + 2 * i].copy_from_slice(&v.to_le_bytes());
        }
        b[16] = self.kernel;
        b[17] = self.stride;
        b[18] = self.padding;
        b[19] = self.taps;
        b[20..24].copy_from_slice(&self.alpha.to_bits().to_le_bytes());
        for (i, t) in [self.weight, self.bias, self.requant].iter().enumerate() {
            b[24 + 8 * i..28 + 8 * i].copy_from_slice(&t.offset.to_le_bytes());
            b[28 + 8 * i..32 + 8 * i].copy_from_slice(&t.len.to_le_bytes());
        }
        b
    }

    /// Reads a record without validating it; `None` when `bytes` is too short.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let b: &[u8; LAYER_RECORD_LEN] = bytes.get(..LAYER_RECORD_LEN)?.try_into().ok()?;
        let t = |at: usize| TensorRef {
            offset: u32_at(b, at),
            len: u32_at(b, at + 4),
        };
        Some(Self {
            kind: b[0],
            activation: b[1],
            in_exp: b[2] as i8,
            out_exp: b[3] as i8,
            in_shape: [u16_at(b, 4), u16_at(b, 6), u16_at(b, 8)],
            out_shape: [u16_at(b, 10), u16_at(b, 12), u16_at(b, 14)],
            kernel: b[16],
            stride: b[17],
            padding: b[18],
            taps: b[19],
            alpha: f32::from_bits(u32_at(b, 20)),
            weight: t(24),
            bias: t(32),
            requant: t(40),
        })
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// Incremental CRC-32 (ISO-HDLC / zlib: reflected polynomial `0xEDB88320`, init and final xor
/// `0xFFFFFFFF`).
#[derive(Clone, Copy, Debug)]
pub struct Crc32 {
    state: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// A fresh CRC.
    pub const fn new() -> Self {
        Self { state: 0xFFFF_FFFF }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut c = self.state;
        for &b in bytes {
            c = CRC_TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
        }
        self.state = c;
    }

    /// The CRC of everything fed so far.
    pub const fn finish(&self) -> u32 {
        self.state ^ 0xFFFF_FFFF
    }
}

/// CRC-32 of `bytes` (`crc32(b"123456789") == 0xCBF43926`).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(bytes);
    c.finish()
}

/// The CRC a blob's header must hold: [`crc32`] of `blob[0..12]` followed by `blob[16..]`
/// (`blob` is exactly `total_len` bytes; `None` if it is shorter than the header).
pub fn blob_crc(blob: &[u8]) -> Option<u32> {
    if blob.len() < HEADER_LEN {
        return None;
    }
    let mut c = Crc32::new();
    c.update(&blob[..CRC_OFFSET]);
    c.update(&blob[CRC_OFFSET + 4..]);
    Some(c.finish())
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

    #[test]
    fn header_and_record_round_trip() {
        let h = Header {
            magic: MAGIC,
            version: VERSION,
            header_len: HEADER_LEN as u16,
            total_len: 1234,
            crc32: 0xDEAD_BEEF,
            z_dim: 64,
            num_classes: 10,
            num_layers: 3,
            input_exp: -5,
            flags: 0,
            scratch_bytes: 4704,
            layer_table_offset: 64,
            iteration: 1 << 40,
            preset: *b"tiny\0\0\0\0",
        };
        assert_eq!(Header::from_bytes(&h.to_bytes()), Some((h, true)));
        assert_eq!(Header::from_bytes(&h.to_bytes()[..63]), None);
        let r = LayerRecord {
            kind: 2,
            activation: 2,
            in_exp: 4,
            out_exp: -3,
            in_shape: [32, 7, 7],
            out_shape: [16, 14, 14],
            kernel: 4,
            stride: 2,
            padding: 1,
            taps: 2,
            alpha: 0.2,
            weight: TensorRef {
                offset: 208,
                len: 8192,
            },
            bias: TensorRef {
                offset: 8400,
                len: 64,
            },
            requant: TensorRef {
                offset: 8464,
                len: 16,
            },
        };
        assert_eq!(LayerRecord::from_bytes(&r.to_bytes()), Some(r));
        assert_eq!(LayerRecord::from_bytes(&r.to_bytes()[..47]), None);
    }
}

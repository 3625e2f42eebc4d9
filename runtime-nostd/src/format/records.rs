//! The header and layer records: their byte layout (see the [module docs](super)).

use super::{HEADER_LEN, LAYER_RECORD_LEN};

/// The fixed-size blob header. See the [module docs](super) for the byte layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Must be [`MAGIC`](super::MAGIC).
    pub magic: [u8; 4],
    /// Must be [`VERSION`](super::VERSION).
    pub version: u16,
    /// Must be [`HEADER_LEN`].
    pub header_len: u16,
    /// Blob length in bytes.
    pub total_len: u32,
    /// CRC-32 over the blob except this field ([`blob_crc`](super::blob_crc)).
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
    /// Byte offset from the start of the blob (multiple of [`TENSOR_ALIGN`](super::TENSOR_ALIGN)).
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

/// One fused layer's record. See the [module docs](super) for the byte layout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerRecord {
    /// [`LayerKind`](super::LayerKind) code.
    pub kind: u8,
    /// [`Activation`](super::Activation) code.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{HEADER_LEN, MAGIC, VERSION};

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

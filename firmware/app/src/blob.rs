//! The generator blob compiled into the firmware.

/// Alignment of [`BLOB`] in flash. The runtime reads the blob's weights in place, which needs at
/// least 4-byte alignment; 16 leaves headroom.
pub const BLOB_ALIGN: usize = 16;

#[repr(C, align(16))]
struct Align16;

/// `bytes` placed at an address aligned like `A` (a zero-sized array of `A` is all it costs).
#[repr(C)]
struct AlignedAs<A, B: ?Sized> {
    _align: [A; 0],
    bytes: B,
}

static ALIGNED: &AlignedAs<Align16, [u8]> = &AlignedAs {
    _align: [],
    bytes: *include_bytes!(env!("TINYGAN_BLOB_PATH")),
};

/// The embedded generator blob (`firmware/assets/tiny.tgb`, or `$TINYGAN_BLOB` at build time),
/// [`BLOB_ALIGN`]-byte aligned.
///
/// ```
/// assert_eq!(tinygan_fw::blob::BLOB.as_ptr() as usize % tinygan_fw::blob::BLOB_ALIGN, 0);
/// ```
pub static BLOB: &[u8] = &ALIGNED.bytes;

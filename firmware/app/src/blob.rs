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

/// The embedded blob's weights in the wide layout (feature `wide`, built by `build.rs` with
/// runtime-nostd's `Model::wide_weights`), for `Model::use_wide_weights`, which checks them.
///
/// ```
/// # #[cfg(feature = "wide")] {
/// let mut model = runtime_nostd::Model::parse(tinygan_fw::blob::BLOB).unwrap();
/// assert!(model.use_wide_weights(tinygan_fw::blob::WIDE).is_ok());
/// # }
/// ```
#[cfg(feature = "wide")]
pub static WIDE: &[u32] = {
    const BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wide.bin"));
    const WORDS: [u32; BYTES.len() / 4] = {
        let mut words = [0u32; BYTES.len() / 4];
        let mut i = 0;
        while i < words.len() {
            words[i] = u32::from_le_bytes([
                BYTES[4 * i],
                BYTES[4 * i + 1],
                BYTES[4 * i + 2],
                BYTES[4 * i + 3],
            ]);
            i += 1;
        }
        words
    };
    &WORDS
};

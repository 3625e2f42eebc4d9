//! Random corruptions of valid blobs: the parser returns an error (or, for corruptions that keep
//! the blob self-consistent, a model that runs) and never panics or reads out of bounds.

use export::spec::Preset;
use export::{ExportOptions, random_spec, write_blob};
use proptest::prelude::*;
use runtime_nostd::format::{
    HEADER_LEN, Header, LAYER_RECORD_LEN, LayerRecord, QUAD_PAIR_BYTES, layer_record_offset, seal,
};
use runtime_nostd::{BlobError, Model, Scratch, TINY_SCRATCH};
use std::sync::OnceLock;

fn blobs() -> &'static [Vec<u8>; 2] {
    static B: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    B.get_or_init(|| {
        let o = ExportOptions::default();
        [
            write_blob(&random_spec(Preset::Tiny, false, 5), &o).unwrap(),
            write_blob(&random_spec(Preset::Tiny, true, 6), &o).unwrap(),
        ]
    })
}

fn fix_crc(b: &mut [u8]) {
    assert!(seal(b));
}

/// Rewrites the header through `change` and reseals the blob.
fn edit_header(b: &mut [u8], change: impl FnOnce(&mut Header)) {
    let (mut h, _) = Header::from_bytes(b).unwrap();
    change(&mut h);
    b[..HEADER_LEN].copy_from_slice(&h.to_bytes());
    fix_crc(b);
}

/// Parses, and if that succeeds, generates: neither may panic.
fn exercise(bytes: &[u8]) -> Result<(), BlobError> {
    let m = Model::parse(bytes)?;
    let mut scratch = Box::new(Scratch::<{ runtime_nostd::MAX_PRESET_SCRATCH }>::new());
    let mut z = vec![0.5f32; m.z_dim()];
    runtime_nostd::latent(1, 2, &mut z);
    let mut out = [0u8; 784];
    let label = (m.num_classes() > 0).then_some(1);
    let _ = m.generate(&z, label, &mut *scratch, &mut out);
    Ok(())
}

#[test]
fn valid_blobs_parse() {
    for b in blobs() {
        let m = Model::parse(b).unwrap();
        assert_eq!(m.scratch_bytes(), TINY_SCRATCH);
        assert!(Model::parse_for_scratch::<TINY_SCRATCH>(b).is_ok());
        assert!(matches!(
            Model::parse_for_scratch::<{ TINY_SCRATCH - 1 }>(b),
            Err(BlobError::ScratchTooSmall { .. })
        ));
        // Trailing bytes (flash padding) are ignored.
        let mut padded = b.clone();
        padded.extend([0xFF; 13]);
        assert!(Model::parse(&padded).is_ok());
        // A too-small scratch is a run-time error too.
        let mut small = Scratch::<16>::new();
        let mut out = [0u8; 784];
        let z = vec![0.0; m.z_dim()];
        let label = (m.num_classes() > 0).then_some(0);
        assert!(matches!(
            m.generate(&z, label, &mut small, &mut out),
            Err(runtime_nostd::RunError::ScratchTooSmall { .. })
        ));
    }
}

#[test]
fn every_truncation_is_an_error() {
    let b = &blobs()[0];
    // Every prefix shorter than the header or the layer table, and a spread of longer ones.
    for len in (0..HEADER_LEN + 4 * LAYER_RECORD_LEN).chain((0..b.len()).step_by(97)) {
        assert!(Model::parse(&b[..len]).is_err(), "prefix {len} accepted");
    }
}

/// Layer `i`'s record (the blob's own, unchanged).
fn record(b: &[u8], i: usize) -> LayerRecord {
    LayerRecord::from_bytes(&b[layer_record_offset(i)..]).unwrap()
}

/// Replaces layer `i`'s record and fixes the CRC.
fn set_record(b: &mut [u8], i: usize, r: &LayerRecord) {
    let at = layer_record_offset(i);
    b[at..at + LAYER_RECORD_LEN].copy_from_slice(&r.to_bytes());
    fix_crc(b);
}

/// Version 1 (the one-output-after-another weight layout) is refused, not misread.
#[test]
fn version_1_is_unsupported() {
    for b in blobs() {
        let mut b = b.clone();
        edit_header(&mut b, |h| h.version = 1);
        assert!(matches!(
            Model::parse(&b),
            Err(BlobError::UnsupportedVersion(1))
        ));
    }
}

/// A weight tensor must have exactly the quad layout's length: `ceil(V/4) · taps · ceil(cin/2)`
/// word pairs; one pair more or less (or the v1 length, `V · taps · cin`) is refused.
#[test]
fn weight_length_must_be_the_quad_layouts() {
    for b in blobs() {
        for layer in 0..3 {
            let r = record(b, layer);
            let v1_len = {
                let o = r.out_shape.iter().map(|&d| d as u32).product::<u32>();
                let i = r.in_shape.iter().map(|&d| d as u32).product::<u32>();
                // Dense: out · in; transposed conv: out_c · in_c · s² · taps² (the v1 block
                // per output value), which differs from the quad length unless both round.
                if r.kernel == 0 {
                    o * i
                } else {
                    r.out_shape[0] as u32
                        * r.in_shape[0] as u32
                        * (r.stride as u32 * r.taps as u32).pow(2)
                }
            };
            for len in [
                r.weight.len - QUAD_PAIR_BYTES as u32,
                r.weight.len + QUAD_PAIR_BYTES as u32,
                v1_len,
            ] {
                if len == r.weight.len {
                    continue;
                }
                let mut bad = r;
                bad.weight.len = len;
                let mut c = b.clone();
                set_record(&mut c, layer, &bad);
                let err = Model::parse(&c).map(|_| ());
                assert!(
                    matches!(
                        err,
                        Err(BlobError::TensorSize { layer: l, .. }) if l == layer
                    ),
                    "layer {layer} weight length {len}: {err:?}"
                );
            }
        }
    }
}

/// The accumulator bound (128 · Σ|w| + |bias| < 2^24 per output value) is checked on the quad
/// layout, for every value of every group: a bias at the limit in any channel is refused, one
/// just below it in a layer whose weights leave room is accepted and runs.
#[test]
fn accumulator_bound_is_checked_per_value() {
    for b in blobs() {
        let conditional = Model::parse(b).unwrap().num_classes() > 0;
        for layer in 0..3 {
            let r = record(b, layer);
            let channels = (r.bias.len / 4) as usize;
            // First, middle and last entry (of the whole class table, for a conditional model).
            for ch in [0, channels / 2, channels - 1] {
                let mut c = b.clone();
                let at = r.bias.offset as usize + 4 * ch;
                c[at..at + 4].copy_from_slice(&(1i32 << 24).to_le_bytes());
                fix_crc(&mut c);
                let err = Model::parse(&c).map(|_| ());
                assert!(
                    matches!(err, Err(BlobError::AccumulatorRange { layer: l, .. }) if l == layer),
                    "layer {layer} channel {ch} (conditional {conditional}): {err:?}"
                );
                c[at..at + 4].copy_from_slice(&(-(1i32 << 24)).to_le_bytes());
                fix_crc(&mut c);
                assert!(matches!(
                    Model::parse(&c),
                    Err(BlobError::AccumulatorRange { .. })
                ));
            }
        }
    }
}

/// Requantization exponents outside -100..=100 are refused, in every layer.
#[test]
fn requant_exponents_are_range_checked() {
    for b in blobs() {
        for layer in 0..3 {
            let r = record(b, layer);
            for e in [101i8, -101, i8::MIN, i8::MAX] {
                let mut c = b.clone();
                let at = r.requant.offset as usize + (r.requant.len as usize - 1);
                c[at] = e as u8;
                fix_crc(&mut c);
                assert!(
                    matches!(Model::parse(&c), Err(BlobError::BadExponent { layer: l }) if l == layer),
                    "layer {layer} exponent {e}"
                );
            }
        }
    }
}

/// The scratch's pixel table follows the last layer's exponent: a model with another exponent
/// rebuilds it, and the first model then rebuilds its own (never a stale table).
#[test]
fn pixel_table_follows_the_exponent() {
    let b = &blobs()[0];
    let m = Model::parse(b).unwrap();
    let r = record(b, 2);
    let mut z = vec![0.0f32; m.z_dim()];
    runtime_nostd::latent(3, 4, &mut z);
    let mut scratch = Box::new(Scratch::<TINY_SCRATCH>::new());
    let mut want = [0u8; 784];
    m.generate(&z, None, &mut *scratch, &mut want).unwrap();
    let mut c = b.clone();
    let at = r.requant.offset as usize;
    c[at] = c[at].wrapping_add(1);
    fix_crc(&mut c);
    let changed = Model::parse(&c).unwrap();
    let mut out = [0u8; 784];
    changed.generate(&z, None, &mut *scratch, &mut out).unwrap();
    m.generate(&z, None, &mut *scratch, &mut out).unwrap();
    assert_eq!(out, want);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn truncation_is_an_error(which in 0usize..2, cut in 1usize..200_000) {
        let b = &blobs()[which];
        let len = b.len().saturating_sub(cut % b.len().max(1)).min(b.len() - 1);
        prop_assert!(exercise(&b[..len]).is_err());
    }

    #[test]
    fn bit_flips_are_caught_by_the_crc(which in 0usize..2, pos in any::<usize>(), bit in 0u8..8) {
        let mut b = blobs()[which].clone();
        let pos = pos % b.len();
        b[pos] ^= 1 << bit;
        prop_assert!(exercise(&b).is_err());
    }

    /// Flips in the header / layer table with the CRC recomputed: reaches the field validation.
    #[test]
    fn structural_flips_never_panic(
        which in 0usize..2,
        flips in proptest::collection::vec((0usize..HEADER_LEN + 3 * LAYER_RECORD_LEN, 0u8..8), 1..6),
    ) {
        let mut b = blobs()[which].clone();
        for (pos, bit) in flips {
            b[pos] ^= 1 << bit;
        }
        fix_crc(&mut b);
        let _ = exercise(&b);
    }

    /// Arbitrary values in the offset / length / shape fields of a layer record, CRC recomputed.
    #[test]
    fn bad_fields_never_panic(
        which in 0usize..2,
        layer in 0usize..3,
        field in 0usize..LAYER_RECORD_LEN / 2,
        value in any::<u16>(),
    ) {
        let mut b = blobs()[which].clone();
        let at = layer_record_offset(layer) + 2 * field;
        let changed = b[at..at + 2] != value.to_le_bytes();
        b[at..at + 2].copy_from_slice(&value.to_le_bytes());
        fix_crc(&mut b);
        let r = exercise(&b);
        // Shapes, exponents and table entries (other than weight bytes) are fully determined by
        // the rest of the blob, so changing one is always detected.
        if changed && (2..8).contains(&field) {
            prop_assert!(r.is_err(), "field {field} = {value} accepted");
        }
    }

    /// Arbitrary bytes with a valid header prefix and CRC.
    #[test]
    fn garbage_with_valid_crc_never_panics(body in proptest::collection::vec(any::<u8>(), 0..2048), n in 1u16..9) {
        let mut b = blobs()[0][..HEADER_LEN].to_vec();
        b.extend(body);
        let total = b.len() as u32;
        edit_header(&mut b, |h| {
            h.total_len = total;
            h.num_layers = n;
        });
        prop_assert!(exercise(&b).is_err());
    }
}

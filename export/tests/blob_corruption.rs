//! Random corruptions of valid blobs: the parser returns an error (or, for corruptions that keep
//! the blob self-consistent, a model that runs) and never panics or reads out of bounds.

use export::{ExportOptions, random_spec, write_blob};
use proptest::prelude::*;
use runtime_nostd::format::{CRC_OFFSET, HEADER_LEN, LAYER_RECORD_LEN, blob_crc};
use runtime_nostd::{BlobError, Model, Scratch, TINY_SCRATCH};
use std::sync::OnceLock;

fn blobs() -> &'static [Vec<u8>; 2] {
    static B: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    B.get_or_init(|| {
        let o = ExportOptions::default();
        [
            write_blob(&random_spec("tiny", false, 5), &o).unwrap(),
            write_blob(&random_spec("tiny", true, 6), &o).unwrap(),
        ]
    })
}

fn fix_crc(b: &mut [u8]) {
    let crc = blob_crc(b).unwrap();
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
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
        let at = HEADER_LEN + layer * LAYER_RECORD_LEN + 2 * field;
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
        b[8..12].copy_from_slice(&total.to_le_bytes());
        b[20..22].copy_from_slice(&n.to_le_bytes());
        fix_crc(&mut b);
        prop_assert!(exercise(&b).is_err());
    }
}

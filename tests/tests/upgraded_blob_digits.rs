//! A blob upgraded from format version 1 draws the same digits as before: the hash below was taken
//! with the version-1 runtime on a version-1 blob (the firmware's `tiny` generator until 2026-12,
//! seeds 0..4, all 8 cells, plus 8 walk frames), and the version-2 blob converted from it by
//! `export::upgrade_v1` (`tests/fixtures/tiny-v1-upgraded.tgb`) must give it back bit for bit.

use runtime_nostd::{Model, TinyScratch, latent};

/// FNV-1a over every generated pixel.
fn fnv(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= b as u64;
        *hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// Digits drawn by the v1 runtime from the v1 blob (taken before the conversion).
const GOLDEN: u64 = 0x1ecb_9095_707b_ecfb;

#[test]
fn upgraded_v1_blob_draws_the_same_digits() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let blob = std::fs::read(root.join("tests/fixtures/tiny-v1-upgraded.tgb")).unwrap();
    let model = Model::parse(&blob).expect("the upgraded blob parses");
    let mut scratch = Box::new(TinyScratch::new());
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut image = [0u8; 784];
    let mut z = vec![0f32; model.z_dim()];
    let mut b = vec![0f32; model.z_dim()];
    for seed in 0..4u64 {
        for cell in 0..8u32 {
            latent(seed, cell, &mut z);
            model.generate(&z, None, &mut scratch, &mut image).unwrap();
            fnv(&mut hash, &image);
        }
    }
    // Walk frames mix two latents (as the firmware does).
    for step in 1..8 {
        let t = step as f32 / 8.0;
        latent(0, 3, &mut z);
        latent(1, 3, &mut b);
        let norm = ((1.0 - t) * (1.0 - t) + t * t).sqrt();
        let mixed: Vec<f32> = z
            .iter()
            .zip(&b)
            .map(|(a, b)| ((1.0 - t) * a + t * b) / norm)
            .collect();
        model
            .generate(&mixed, None, &mut scratch, &mut image)
            .unwrap();
        fnv(&mut hash, &image);
    }
    println!("digits hash {hash:#018x}");
    assert_eq!(hash, GOLDEN, "digits hash {hash:#018x}");
}

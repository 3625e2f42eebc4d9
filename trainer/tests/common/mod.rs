//! Helpers shared by the trainer's integration tests.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use trainer::data::TrainData;

/// `n` random 28×28 "digits" with random labels (fixed seed): fast stand-in data for tests that
/// exercise the training machinery rather than learning.
pub fn synthetic_digits(n: usize) -> TrainData {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
    TrainData::Images {
        images: (0..n * 784).map(|_| rng.random()).collect(),
        labels: (0..n).map(|_| rng.random_range(0..10)).collect(),
    }
}

/// Every float parameter of a module, flattened in visiting order.
#[allow(unused_imports)] // not every test binary compares weights
pub use trainer::model::flat_parameters as flat;

/// The real MNIST files: `$TINYGAN_DATA`, else `../shared/mnist` beside the checkout (as in CI).
pub fn mnist_dir() -> String {
    let data = std::env::var(trainer::data::DATA_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            // Run-time lookup: a shared build directory may have compiled this elsewhere.
            let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
            format!("{dir}/../../shared/mnist")
        });
    assert!(
        trainer::data::find_mnist_file(std::path::Path::new(&data), "train-images-idx3-ubyte")
            .is_some(),
        "MNIST not found in {data}: set TINYGAN_DATA to a directory holding the four MNIST files"
    );
    data
}

/// Every file under `dir`, by path relative to it, with its bytes.
pub fn files(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    out
}

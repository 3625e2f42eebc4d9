//! ONNX → Burn code (burn-onnx, at build time) → forward pass, compared with the trainer's own
//! Burn forward pass on the same latents: the exported graph means the same thing to a third
//! reader (after tract in `trainer/tests/export_onnx.rs`).

use burn::prelude::*;
use burn::tensor::{Int, TensorData};

// The generated code (one module per exported generator); its other constructors go unused here.
#[allow(dead_code)]
mod tiny {
    include!(concat!(env!("OUT_DIR"), "/model/tiny.rs"));
}
#[allow(dead_code)]
mod tiny_cond {
    include!(concat!(env!("OUT_DIR"), "/model/tiny_cond.rs"));
}
#[allow(dead_code)]
mod dcgan {
    include!(concat!(env!("OUT_DIR"), "/model/dcgan.rs"));
}
#[allow(dead_code)]
mod mlp {
    include!(concat!(env!("OUT_DIR"), "/model/mlp.rs"));
}

/// Largest allowed |generated Burn − trainer| over all pixels (values in [-1, 1]).
const TOLERANCE: f32 = 1e-4;

struct Fixture {
    n: usize,
    z_dim: usize,
    z: Vec<f32>,
    labels: Option<Vec<i64>>,
    expected: Vec<f32>,
}

fn fixture(case: &str) -> Fixture {
    let dir = std::path::PathBuf::from(env!("TINYGAN_ROUNDTRIP_FIXTURES"));
    let path = dir.join(format!("{case}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; rerun scripts/burn-roundtrip.sh", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
    let floats = |k: &str| -> Vec<f32> {
        v[k].as_array()
            .unwrap_or_else(|| panic!("fixture {case}: {k} is not an array"))
            .iter()
            .map(|x| x.as_f64().expect("number") as f32)
            .collect()
    };
    Fixture {
        n: v["n"].as_u64().expect("n") as usize,
        z_dim: v["z_dim"].as_u64().expect("z_dim") as usize,
        z: floats("z"),
        labels: v["labels"]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_i64().expect("label")).collect()),
        expected: floats("expected"),
    }
}

fn check(case: &str, f: &Fixture, out: Tensor<4>) {
    assert_eq!(out.dims(), [f.n, 1, 28, 28], "{case}: output shape");
    let got: Vec<f32> = out
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 output");
    assert_eq!(got.len(), f.expected.len(), "{case}: output size");
    let d = got
        .iter()
        .zip(&f.expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!(
        "{case}: max |burn-onnx − trainer| = {d:e} over {} pixels",
        got.len()
    );
    assert!(
        d <= TOLERANCE,
        "{case}: max |burn-onnx − trainer| = {d:e} > {TOLERANCE:e}"
    );
}

fn latents(f: &Fixture, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(f.z.clone(), [f.n, f.z_dim]), device)
}

#[test]
fn tiny_matches_the_trainer() {
    let device = Device::flex();
    let f = fixture("tiny");
    let model = tiny::Model::default();
    check("tiny", &f, model.forward(latents(&f, &device)));
}

#[test]
fn conditional_tiny_matches_the_trainer() {
    let device = Device::flex();
    let f = fixture("tiny_cond");
    let labels = f.labels.clone().expect("conditional fixture has labels");
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [f.n]), &device);
    let model = tiny_cond::Model::default();
    check("tiny_cond", &f, model.forward(latents(&f, &device), labels));
}

#[test]
fn dcgan_matches_the_trainer() {
    let device = Device::flex();
    let f = fixture("dcgan");
    let model = dcgan::Model::default();
    check("dcgan", &f, model.forward(latents(&f, &device)));
}

#[test]
fn mlp_matches_the_trainer() {
    let device = Device::flex();
    let f = fixture("mlp");
    let model = mlp::Model::default();
    check("mlp", &f, model.forward(latents(&f, &device)));
}

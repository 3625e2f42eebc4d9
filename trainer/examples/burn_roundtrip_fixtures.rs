//! Writes the fixtures for the burn-onnx round trip (`tests/burn-roundtrip`): for each case, the
//! generator exported as fp32 ONNX (`CASE.onnx`) and the trainer's own Burn forward pass on fixed
//! latents (`CASE.json`: latents, labels, expected images).
//!
//! `tests/burn-roundtrip` lives in its own Cargo workspace (burn-onnx needs protobuf ≥ 3.7, the
//! exporter's onnx-protobuf needs exactly 3.4), so the two sides meet through these files:
//! `scripts/burn-roundtrip.sh` runs this example, then that crate's tests.
//!
//! Usage: `burn_roundtrip_fixtures OUT_DIR`.

use std::path::PathBuf;

use anyhow::Context;
use burn::module::Module;
use trainer::model::Preset;
use trainer::sample::fixed_noise;
use trainer::to_spec::{generator_spec, warmed_up_trainer};

/// Latents per case.
const N: usize = 8;

fn main() -> anyhow::Result<()> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: burn_roundtrip_fixtures OUT_DIR")?
        .into();
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    for (preset, conditional) in [
        (Preset::Tiny, false),
        (Preset::Tiny, true),
        (Preset::Dcgan, false),
        (Preset::Mlp, false),
    ] {
        let name = format!(
            "{}{}",
            preset.name(),
            if conditional { "_cond" } else { "" }
        );
        let t = warmed_up_trainer(preset, conditional)?;
        let spec = generator_spec(&t.generator.valid(), preset, "ns-gan", t.iteration);
        let z = fixed_noise(17, N, preset.z_dim());
        let labels: Vec<u8> = (0..N as u8).map(|i| (3 * i + 1) % 10).collect();
        let expected = t.generate(&z, conditional.then_some(&labels[..]));
        let onnx = export::onnx_fp32(&spec)?;
        std::fs::write(out.join(format!("{name}.onnx")), onnx)?;
        let json = serde_json::json!({
            "n": N,
            "z_dim": preset.z_dim(),
            "z": z,
            "labels": if conditional { Some(labels) } else { None },
            "expected": expected,
        });
        std::fs::write(out.join(format!("{name}.json")), serde_json::to_vec(&json)?)?;
        eprintln!("wrote {}/{name}.{{onnx,json}}", out.display());
    }
    Ok(())
}

//! Trainer → export: the exported fp32 ONNX, run by an independent runtime (tract), reproduces the
//! trainer's own Burn forward pass (inference mode) within 1e-4 for every image preset, and the
//! framework-free reference forward pass agrees too.

use burn::prelude::*;
/// The export crate's tract helpers (one copy of the tract plumbing).
use tract_check as common;
use trainer::model::Preset;
use trainer::to_spec::generator_spec;

fn trained(preset: Preset, conditional: bool) -> trainer::train::Trainer {
    trainer::to_spec::warmed_up_trainer(preset, conditional).expect("a few training steps")
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn fp32_onnx_matches_the_trainer_forward_pass() {
    for (preset, conditional) in [
        (Preset::Tiny, false),
        (Preset::Dcgan, false),
        (Preset::Mlp, false),
        (Preset::Tiny, true),
    ] {
        let t = trained(preset, conditional);
        let spec = generator_spec(&t.generator.valid(), preset, "ns-gan", t.iteration);
        let n = 8;
        let z = trainer::sample::fixed_noise(17, n, preset.z_dim());
        let labels: Vec<u8> = (0..n as u8).map(|i| i % 10).collect();
        let labels = conditional.then_some(&labels[..]);
        let burn_out = t.generate(&z, labels);
        let onnx = export::onnx_fp32(&spec).unwrap();
        let plan = common::plan(&onnx, preset.z_dim(), conditional, n);
        let tract_out = common::run(&plan, &z, labels, n);
        let d = max_abs(&burn_out, &tract_out);
        assert!(
            d <= 1e-4,
            "{preset:?} cond={conditional}: max |burn − tract| = {d:e}"
        );
        let reference = export::reference_forward(&spec, &z, labels, n);
        let d = max_abs(&burn_out, &reference);
        assert!(
            d <= 1e-4,
            "{preset:?} cond={conditional}: max |burn − reference| = {d:e}"
        );
    }
}

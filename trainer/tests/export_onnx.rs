//! Trainer → export: the exported fp32 ONNX, run by an independent runtime (tract), reproduces the
//! trainer's own Burn forward pass (inference mode) within 1e-4 for every image preset, and the
//! framework-free reference forward pass agrees too.

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use tract_onnx::prelude::*;
use trainer::model::Preset;
use trainer::objective::Loss;
use trainer::to_spec::generator_spec;
use trainer::train::{TrainConfig, TrainData, Trainer};

fn trained(preset: Preset, conditional: bool) -> Trainer {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
    let data = TrainData::Images {
        images: (0..128 * 784).map(|_| rng.random()).collect(),
        labels: (0..128).map(|_| rng.random_range(0..10)).collect(),
    };
    let cfg = TrainConfig::with_defaults(preset, Loss::NsGan)
        .with_batch(16)
        .with_conditional(conditional)
        .with_seed(5);
    let mut t = Trainer::new(cfg, &Device::flex(), data).unwrap();
    // A few steps so that batch-norm running statistics are not the identity.
    for _ in 0..3 {
        t.step().unwrap();
    }
    t
}

fn tract_run(onnx: &[u8], z: &[f32], n: usize, z_dim: usize, labels: Option<&[u8]>) -> Vec<f32> {
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(onnx))
        .unwrap()
        .with_input_fact(0, f32::fact([n, z_dim]).into())
        .unwrap();
    let mut inputs: TVec<TValue> = tvec!(
        tract_ndarray::Array2::from_shape_vec((n, z_dim), z.to_vec())
            .unwrap()
            .into_tensor()
            .into()
    );
    if let Some(l) = labels {
        model = model.with_input_fact(1, i64::fact([n]).into()).unwrap();
        let l: Vec<i64> = l.iter().map(|&v| v as i64).collect();
        inputs.push(tract_ndarray::Array1::from_vec(l).into_tensor().into());
    }
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    let out = plan.run(inputs).unwrap();
    let view = out[0].to_array_view::<f32>().unwrap();
    assert_eq!(view.shape(), &[n, 1, 28, 28]);
    view.iter().copied().collect()
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
        let spec = generator_spec(&t.generator.valid(), preset.name(), "ns-gan", t.iteration);
        let n = 8;
        let z = trainer::train::fixed_noise(17, n, preset.z_dim());
        let labels: Vec<u8> = (0..n as u8).map(|i| i % 10).collect();
        let labels = conditional.then_some(&labels[..]);
        let burn_out = t.generate(&z, labels);
        let onnx = export::onnx_fp32(&spec).unwrap();
        let tract_out = tract_run(&onnx, &z, n, preset.z_dim(), labels);
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

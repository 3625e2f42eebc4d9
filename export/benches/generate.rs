//! µs per generated digit on the host: `runtime-nostd` (int8, one image) side by side with tract
//! running the same model's fp32 and int8 (QDQ) ONNX (batch 1).
//!
//! `runtime-nostd int8` multiplies the blob's int8 weights; `runtime-nostd int8 wide` first hands
//! the model its wide weights (`Model::wide_weights`, built once before timing, then
//! `Model::use_wide_weights`), as a host user would: the same bytes out, faster on x86-64 (SSE2,
//! AVX2 or AVX-512 VNNI kernels, chosen at run time).
//!
//! `cargo bench --workspace --bench generate` (`-- tiny` for one preset)

use criterion::{Criterion, criterion_group, criterion_main};
use export::spec::Preset;
use export::{ExportOptions, fixed_latents, onnx_fp32, onnx_int8, random_spec, write_blob};
use runtime_nostd::{MAX_PRESET_SCRATCH, Model, Scratch};
use std::hint::black_box;
use std::sync::Arc;
use tract_onnx::prelude::*;

fn plan(bytes: &[u8], z_dim: usize) -> Arc<TypedRunnableModel> {
    tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .with_input_fact(
            0,
            InferenceFact::dt_shape(f32::datum_type(), tvec!(1, z_dim)),
        )
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let opts = ExportOptions::default();
    for preset in [Preset::Tiny, Preset::Mlp, Preset::Dcgan] {
        let spec = random_spec(preset, false, 1);
        let blob = write_blob(&spec, &opts).unwrap();
        let model = Model::parse(&blob).unwrap();
        let wide = model.wide_weights();
        let mut wide_model = model.clone();
        wide_model.use_wide_weights(&wide).unwrap();
        let (z, _) = fixed_latents(&spec, 3, 1);
        let mut group = c.benchmark_group(preset.name());
        let mut scratch = Box::new(Scratch::<MAX_PRESET_SCRATCH>::new());
        let mut out = [0u8; 784];
        for (name, model) in [
            ("runtime-nostd int8", &model),
            ("runtime-nostd int8 wide", &wide_model),
        ] {
            group.bench_function(name, |b| {
                b.iter(|| {
                    model
                        .generate(black_box(&z), None, &mut *scratch, &mut out)
                        .unwrap();
                    black_box(&out);
                })
            });
        }
        for (name, bytes) in [
            ("tract fp32", onnx_fp32(&spec).unwrap()),
            ("tract int8 QDQ", onnx_int8(&spec, &opts).unwrap()),
        ] {
            let p = plan(&bytes, spec.z_dim);
            let input = Tensor::from_shape(&[1, spec.z_dim], &z).unwrap();
            group.bench_function(name, |b| {
                b.iter(|| black_box(p.run(tvec!(input.clone().into_tvalue())).unwrap()))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

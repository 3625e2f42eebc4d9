//! Runs tinygan's exported ONNX models with tract, an independent runtime: the one copy of the
//! tract plumbing, shared by the export and trainer tests (as a dev-dependency).

use std::sync::Arc;
use tract_onnx::prelude::*;

/// A tract plan for an exported generator, with the batch size fixed to `n`.
pub fn plan(bytes: &[u8], z_dim: usize, conditional: bool, n: usize) -> Arc<TypedRunnableModel> {
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .expect("tract reads the model")
        .with_input_fact(
            0,
            InferenceFact::dt_shape(f32::datum_type(), tvec!(n, z_dim)),
        )
        .expect("z fact");
    if conditional {
        model = model
            .with_input_fact(1, InferenceFact::dt_shape(i64::datum_type(), tvec!(n)))
            .expect("label fact");
    }
    model
        .into_optimized()
        .expect("tract optimizes the model")
        .into_runnable()
        .expect("runnable")
}

/// Runs a plan on `n` latents (and labels): `n × 784` image values.
pub fn run(plan: &Arc<TypedRunnableModel>, z: &[f32], labels: Option<&[u8]>, n: usize) -> Vec<f32> {
    let z_dim = z.len() / n;
    let mut inputs: TVec<TValue> = tvec!(
        Tensor::from_shape(&[n, z_dim], z)
            .expect("z tensor")
            .into_tvalue()
    );
    if let Some(l) = labels {
        let l: Vec<i64> = l.iter().map(|&v| v as i64).collect();
        inputs.push(
            Tensor::from_shape(&[n], &l)
                .expect("label tensor")
                .into_tvalue(),
        );
    }
    let out = plan.run(inputs).expect("tract runs the model");
    assert_eq!(out[0].shape(), &[n, 1, 28, 28]);
    out[0]
        .to_plain_array_view::<f32>()
        .expect("f32 output")
        .iter()
        .copied()
        .collect()
}

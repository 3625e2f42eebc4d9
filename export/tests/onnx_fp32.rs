//! The fp32 ONNX model, run by tract, matches `reference_forward` (which does not fold batch norm).

mod common;

use export::spec::Preset;
use export::{fixed_latents, onnx_fp32, random_spec, reference_forward};
use onnx_protobuf::{Message, ModelProto};

#[test]
fn fp32_onnx_matches_reference_forward() {
    for &(preset, conditional) in common::CASES {
        let spec = random_spec(preset, conditional, 11);
        let bytes = onnx_fp32(&spec).expect("export fp32");
        let n = 6;
        let (z, labels) = fixed_latents(&spec, 5, n);
        let want = reference_forward(&spec, &z, labels.as_deref(), n);
        let plan = common::plan(&bytes, spec.z_dim, conditional, n);
        let got = common::run(&plan, &z, labels.as_deref(), n);
        let max = want
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let spread = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        println!(
            "{preset} conditional={conditional}: max |tract - reference| = {max:e} (max |x| {spread})"
        );
        assert!(max <= 1e-4, "{preset} conditional={conditional}: {max}");
        // Outputs are not trivially saturated or constant.
        assert!(
            spread > 0.05 && spread < 1.0,
            "{preset}: degenerate output {spread}"
        );
    }
}

#[test]
fn metadata_opset_and_io() {
    let spec = random_spec(Preset::Tiny, true, 3);
    let m = ModelProto::parse_from_bytes(&onnx_fp32(&spec).unwrap()).unwrap();
    assert!(
        m.opset_import
            .iter()
            .any(|o| o.domain.is_empty() && o.version >= 13)
    );
    let props: std::collections::HashMap<_, _> = m
        .metadata_props
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(props["preset"], "tiny");
    assert_eq!(props["objective"], "random");
    assert_eq!(props["iteration"], "3");
    assert_eq!(props["tinygan_version"], env!("CARGO_PKG_VERSION"));
    let g = m.graph.as_ref().unwrap();
    let inputs: Vec<_> = g.input.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(inputs, ["z", "label"]);
    assert_eq!(g.output[0].name, "image");
    let ops: Vec<_> = g.node.iter().map(|n| n.op_type.as_str()).collect();
    for op in ["Gemm", "Gather", "Reshape", "ConvTranspose", "Relu", "Tanh"] {
        assert!(ops.contains(&op), "missing {op} in {ops:?}");
    }
    assert!(!ops.contains(&"BatchNormalization"), "batch norm is folded");
}

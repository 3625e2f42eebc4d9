//! The runtime on the blob agrees with tract running the int8 QDQ ONNX model **bit-exactly**:
//! hidden int8 codes are exact by construction (power-of-two scales, accumulators below 2^24), and
//! the u8 image equals `pixel_from_unit(tract's image)` on every pixel. (The only conceivable
//! difference is the last tanh — two f32 implementations — landing within ~1e-6 of a pixel rounding
//! boundary; it would be 1 LSB, and none occurs on these 160 000 pixels.)

mod common;

use export::spec::Preset;
use export::{
    ExportOptions, fixed_latents, int8_reference, onnx_int8, random_spec, reference_forward,
    write_blob,
};
use onnx_protobuf::{Message, ModelProto};
use runtime_nostd::pixel_from_unit;

#[test]
fn runtime_matches_tract_int8_bit_exactly() {
    let opts = ExportOptions::default();
    for &(preset, conditional) in common::CASES {
        let spec = random_spec(preset, conditional, 21);
        let blob = write_blob(&spec, &opts).expect("blob");
        let onnx = onnx_int8(&spec, &opts).expect("int8 onnx");
        let n = 32;
        let (z, labels) = fixed_latents(&spec, 99, n);
        let device = int8_reference(&blob, &z, labels.as_deref(), n).expect("runtime");
        let plan = common::plan(&onnx, spec.z_dim, conditional, n);
        let tract: Vec<u8> = common::run(&plan, &z, labels.as_deref(), n)
            .into_iter()
            .map(pixel_from_unit)
            .collect();
        let diffs: Vec<i32> = device
            .iter()
            .zip(&tract)
            .map(|(&a, &b)| (a as i32 - b as i32).abs())
            .collect();
        let max = diffs.iter().copied().max().unwrap();
        let off = diffs.iter().filter(|&&d| d != 0).count();
        // Sanity: the int8 model is close to fp32 (so the comparison is not between two
        // degenerate outputs).
        let reference = reference_forward(&spec, &z, labels.as_deref(), n);
        let (qmax, qmean, psnr) = export::fidelity(&device, &reference);
        println!(
            "{preset} conditional={conditional}: runtime vs tract-int8 max diff {max} LSB, \
             {off}/{} pixels differ; int8 vs fp32 max {qmax:.3} mean {qmean:.4} PSNR {psnr:.1} dB",
            diffs.len()
        );
        assert_eq!(off, 0, "{preset}: {off} pixels differ, by up to {max} LSB");
        assert!(psnr > 25.0, "{preset}: int8 far from fp32 ({psnr} dB)");
        let distinct = device
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        assert!(distinct > 20, "{preset}: output nearly constant");
    }
}

#[test]
fn int8_onnx_is_qdq() {
    let spec = random_spec(Preset::Tiny, false, 4);
    let m = ModelProto::parse_from_bytes(&onnx_int8(&spec, &ExportOptions::default()).unwrap())
        .unwrap();
    let g = m.graph.as_ref().unwrap();
    let count = |op: &str| g.node.iter().filter(|n| n.op_type == op).count();
    // z and the two hidden layers are quantized; 3 weights + 3 biases dequantized.
    assert_eq!(count("QuantizeLinear"), 3);
    assert_eq!(count("DequantizeLinear"), 3 + 6);
    assert_eq!(count("Gemm"), 1);
    assert_eq!(count("ConvTranspose"), 2);
    let int8_inits = g.initializer.iter().filter(|t| t.data_type == 3).count();
    assert!(int8_inits >= 3);
    // ConvTranspose weights are dequantized per output channel (axis 1).
    let conv_w_dq = g
        .node
        .iter()
        .filter(|n| n.op_type == "DequantizeLinear" && n.input[0] == "l1_weight_quantized")
        .flat_map(|n| n.attribute.iter())
        .find(|a| a.name == "axis")
        .map(|a| a.i);
    assert_eq!(conv_w_dq, Some(1));
}

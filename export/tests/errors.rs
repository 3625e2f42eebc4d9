//! Malformed specs, inputs and blobs are errors, never panics; `export_all` writes its files.

use export::spec::Layer;
use export::spec::Preset;
use export::{
    ExportError, ExportOptions, export_all, int8_reference, onnx_fp32, onnx_int8, random_spec,
    try_reference_forward, validate, write_blob,
};

fn expect_invalid(spec: &export::spec::GeneratorSpec, what: &str) {
    let opts = ExportOptions::default();
    for r in [
        validate(spec).err(),
        onnx_fp32(spec).err(),
        onnx_int8(spec, &opts).err(),
        write_blob(spec, &opts).err(),
    ] {
        match r {
            Some(ExportError::InvalidSpec(msg)) => assert!(!msg.is_empty()),
            other => panic!("{what}: expected InvalidSpec, got {other:?}"),
        }
    }
}

#[test]
fn specs_that_do_not_chain_are_errors() {
    let base = random_spec(Preset::Tiny, false, 1);

    let mut s = base.clone();
    s.z_dim = 63;
    expect_invalid(&s, "z_dim mismatch");

    let mut s = base.clone();
    if let Layer::Dense { weight, .. } = &mut s.layers[0] {
        weight.pop();
    }
    expect_invalid(&s, "short weight");

    let mut s = base.clone();
    if let Layer::Dense { bias, .. } = &mut s.layers[0] {
        bias[3] = f32::NAN;
    }
    expect_invalid(&s, "NaN bias");

    let mut s = base.clone();
    s.layers[3] = Layer::Reshape {
        channels: 16,
        height: 7,
        width: 7,
    };
    expect_invalid(&s, "reshape to a different size");

    let mut s = base.clone();
    if let Layer::ConvTranspose2d { in_channels, .. } = &mut s.layers[4] {
        *in_channels = 31;
    }
    expect_invalid(&s, "conv channels");

    let mut s = base.clone();
    s.layers.pop(); // no tanh
    expect_invalid(&s, "missing tanh");

    let mut s = base.clone();
    s.layers.swap(1, 2); // BN after ReLU: not foldable
    expect_invalid(&s, "BN after activation");

    let mut s = base.clone();
    if let Layer::BatchNorm { running_var, .. } = &mut s.layers[1] {
        running_var[0] = -1.0;
    }
    expect_invalid(&s, "negative variance");

    let mut s = base.clone();
    s.layers.truncate(7); // ends after the first conv: output is [16, 14, 14]
    s.layers.push(Layer::Tanh);
    expect_invalid(&s, "wrong output size");

    let mut s = base;
    s.layers.clear();
    expect_invalid(&s, "no layers");
}

#[test]
fn bad_inputs_are_errors() {
    let spec = random_spec(Preset::Tiny, true, 1);
    let z = vec![0.0; 64 * 2];
    assert!(try_reference_forward(&spec, &z, Some(&[1, 2]), 2).is_ok());
    assert!(try_reference_forward(&spec, &z[1..], Some(&[1, 2]), 2).is_err());
    assert!(try_reference_forward(&spec, &z, None, 2).is_err());
    assert!(try_reference_forward(&spec, &z, Some(&[1, 10]), 2).is_err());
    assert!(try_reference_forward(&spec, &z, Some(&[1]), 2).is_err());

    let blob = write_blob(&spec, &ExportOptions::default()).unwrap();
    assert!(int8_reference(&blob, &z, Some(&[1, 2]), 2).is_ok());
    assert!(matches!(
        int8_reference(&blob, &z, None, 2),
        Err(ExportError::Run(runtime_nostd::RunError::MissingLabel))
    ));
    assert!(int8_reference(&blob, &z, Some(&[1, 10]), 2).is_err());
    assert!(int8_reference(&blob, &z[1..], Some(&[1, 2]), 2).is_err());
    assert!(matches!(
        int8_reference(&blob[..blob.len() - 1], &z, Some(&[1, 2]), 2),
        Err(ExportError::Blob(_))
    ));
    let opts = ExportOptions {
        calibration_batch: 0,
        ..Default::default()
    };
    assert!(write_blob(&spec, &opts).is_err());
}

#[test]
fn export_all_writes_everything() {
    let dir = std::env::temp_dir().join(format!("tinygan-export-test-{}", std::process::id()));
    let spec = random_spec(Preset::Tiny, false, 8);
    let opts = ExportOptions {
        fidelity_samples: 200,
        ..Default::default()
    };
    let report = export_all(&spec, &dir, &opts).expect("export");
    for f in [
        "generator.onnx",
        "generator.int8.onnx",
        "generator.tgb",
        "report.json",
        "report.txt",
    ] {
        let len = std::fs::metadata(dir.join(f)).unwrap().len();
        assert!(len > 0, "{f} empty");
    }
    let blob = std::fs::read(dir.join("generator.tgb")).unwrap();
    assert_eq!(
        blob,
        write_blob(&spec, &opts).unwrap(),
        "deterministic export"
    );
    assert_eq!(report.blob_bytes, blob.len());
    assert_eq!(report.scratch_bytes, runtime_nostd::TINY_SCRATCH);
    assert_eq!(report.fidelity_samples, 200);
    assert!(report.max_abs_error > 0.0 && report.max_abs_error < 0.5);
    assert!(report.mean_abs_error < report.max_abs_error);
    assert!(report.psnr_db > 25.0);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["preset"], "tiny");
    assert_eq!(json["psnr_db"].as_f64().unwrap(), report.psnr_db);
    let text = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert!(text.contains("PSNR"));
    assert_eq!(text.trim_end(), report.to_string());
    println!("{report}");
    std::fs::remove_dir_all(&dir).ok();

    // An unwritable destination is an Io error.
    let err = export_all(
        &spec,
        std::path::Path::new("/proc/definitely/not/here"),
        &opts,
    );
    assert!(matches!(err, Err(ExportError::Io { .. })), "{err:?}");
}

//! Generates Burn code from the exported generators in `$TINYGAN_ROUNDTRIP_FIXTURES` (written by
//! the trainer's `burn_roundtrip_fixtures` example; `scripts/burn-roundtrip.sh` does both steps).

use std::path::PathBuf;

/// The cases, in the fixture writer's names.
const CASES: [&str; 4] = ["tiny", "tiny_cond", "dcgan", "mlp"];

fn main() {
    println!("cargo:rerun-if-env-changed=TINYGAN_ROUNDTRIP_FIXTURES");
    let Some(dir) = std::env::var_os("TINYGAN_ROUNDTRIP_FIXTURES").map(PathBuf::from) else {
        eprintln!(
            "error: TINYGAN_ROUNDTRIP_FIXTURES is not set. Run scripts/burn-roundtrip.sh, which writes \
             the fixtures with the trainer and then runs these tests."
        );
        std::process::exit(1);
    };
    for case in CASES {
        let onnx = dir.join(format!("{case}.onnx"));
        println!("cargo:rerun-if-changed={}", onnx.display());
        if !onnx.is_file() {
            eprintln!(
                "error: {} is missing; rerun scripts/burn-roundtrip.sh",
                onnx.display()
            );
            std::process::exit(1);
        }
        burn_onnx::ModelGen::new()
            .input(onnx.to_str().expect("UTF-8 fixture path"))
            .out_dir("model/")
            .run_from_script();
    }
}

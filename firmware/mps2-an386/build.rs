//! Puts this board's `memory.x` where cortex-m-rt's `link.x` finds it, and widens the embedded
//! blob's weights (`../blob_path.rs`) into `$OUT_DIR/wide.bin` (little-endian words) with the host
//! build of runtime-nostd (`Model::wide_weights`), refusing a blob that does not parse: the
//! firmware would refuse it at boot anyway, and the build says why.

use std::{env, fs, path::PathBuf};

include!("../blob_path.rs");

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    let blob = blob_path();
    let bytes = fs::read(&blob).unwrap_or_else(|e| panic!("{}: {e}", blob.display()));
    let model = runtime_nostd::Model::parse(&bytes)
        .unwrap_or_else(|e| panic!("generator blob {}: {e}", blob.display()));
    let wide: Vec<u8> = model
        .wide_weights()
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    fs::write(out.join("wide.bin"), wide).unwrap();
}

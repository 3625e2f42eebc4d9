//! Picks the generator blob that the firmware embeds: `$TINYGAN_BLOB` when set (an absolute path, or
//! one relative to the `firmware/` directory), else `firmware/assets/tiny.tgb`. With the `wide`
//! feature, also writes its weights in the wide layout (`$OUT_DIR/wide.bin`, little-endian words).

use std::{env, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=TINYGAN_BLOB");
    let firmware = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let path = match env::var_os("TINYGAN_BLOB") {
        Some(p) if !p.is_empty() => firmware.join(p),
        _ => firmware.join("assets/tiny.tgb"),
    };
    let path = path.canonicalize().unwrap_or_else(|e| {
        panic!(
            "generator blob {} not found ({e}); set TINYGAN_BLOB=/path/to/blob.tgb or put the trained \
             `tiny` blob at firmware/assets/tiny.tgb",
            path.display()
        )
    });
    println!("cargo:rerun-if-changed={}", path.display());
    println!("cargo:rustc-env=TINYGAN_BLOB_PATH={}", path.display());
    #[cfg(feature = "wide")]
    write_wide(&path);
}

/// Widens the blob's weights into `$OUT_DIR/wide.bin` (refusing a blob that does not parse: the
/// firmware would refuse it at boot anyway, and the build says why).
#[cfg(feature = "wide")]
fn write_wide(blob: &std::path::Path) {
    let bytes = std::fs::read(blob).unwrap_or_else(|e| panic!("{}: {e}", blob.display()));
    let model = runtime_nostd::Model::parse(&bytes)
        .unwrap_or_else(|e| panic!("generator blob {}: {e}", blob.display()));
    let wide: Vec<u8> = model
        .wide_weights()
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("wide.bin");
    std::fs::write(&out, wide).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

//! Picks the generator blob that the firmware embeds: `$TINYGAN_BLOB` when set (an absolute path, or
//! one relative to the `firmware/` directory), else `firmware/assets/tiny.tgb`.

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
}

// The generator blob the firmware embeds, shared by the build scripts that need it
// (`app/build.rs`, `mps2-an386/build.rs`, through `include!`): `$TINYGAN_BLOB` when set (an
// absolute path, or one relative to the `firmware/` directory), else `firmware/assets/tiny.tgb`.

/// The blob's canonical path (panics with a clear message when it is missing); asks cargo to
/// rebuild when it or `$TINYGAN_BLOB` changes.
fn blob_path() -> std::path::PathBuf {
    println!("cargo:rerun-if-env-changed=TINYGAN_BLOB");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let firmware = std::path::PathBuf::from(manifest).join("..");
    let path = match std::env::var_os("TINYGAN_BLOB") {
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
    path
}

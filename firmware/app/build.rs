//! Tells the firmware which generator blob to embed (`TINYGAN_BLOB_PATH`; see `../blob_path.rs`).

include!("../blob_path.rs");

fn main() {
    println!(
        "cargo:rustc-env=TINYGAN_BLOB_PATH={}",
        blob_path().display()
    );
}

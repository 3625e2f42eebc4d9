//! Fuzzes `Model::parse` and, for inputs it accepts, `Model::generate`.
//!
//! `cargo +nightly fuzz run parse -- -max_total_time=120` (seed corpus: `corpus/parse/`, e.g.
//! blobs from `cargo run --release -p export --example random_blob -- corpus/parse/tiny.tgb`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use runtime_nostd::format::{Header, seal};
use runtime_nostd::{MAX_PRESET_SCRATCH, Model, Scratch, latent};

fuzz_target!(|data: &[u8]| {
    // The CRC rejects almost every mutation; a second pass with a repaired CRC lets the fuzzer
    // reach the structural validation and the forward pass.
    run(data);
    if let Some((header, _)) = Header::from_bytes(data) {
        let mut fixed = data.to_vec();
        if let Some(blob) = fixed.get_mut(..header.total_len as usize)
            && seal(blob)
        {
            run(&fixed);
        }
    }
});

fn run(data: &[u8]) {
    let Ok(model) = Model::parse(data) else {
        return;
    };
    // The forward pass of a big model takes milliseconds: run it for small ones only, to keep the
    // fuzzer fast (parsing, where malformed input matters, always runs).
    if model.macs() > 600_000 {
        return;
    }
    static mut SCRATCH: Scratch<MAX_PRESET_SCRATCH> = Scratch::new();
    // SAFETY: libFuzzer runs the target on one thread.
    let scratch = unsafe { &mut *core::ptr::addr_of_mut!(SCRATCH) };
    let mut z = [0f32; 512];
    let zd = model.z_dim().min(512);
    latent(7, 0, &mut z[..zd]);
    let mut out = [0u8; 784];
    let label = (model.num_classes() > 0).then_some(0);
    let _ = model.generate(&z[..zd], label, scratch, &mut out);
}

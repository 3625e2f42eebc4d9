//! Bare-metal harness: parse a blob placed in flash at `BLOB_ADDR` and generate one digit into a
//! static buffer. Only for measuring `runtime-nostd`'s code and RAM on thumbv7m-none-eabi (the
//! blob itself is not linked: add its size to the reported flash).
#![no_std]
#![no_main]

use core::panic::PanicInfo;
use runtime_nostd::{Model, Scratch, TINY_SCRATCH, latent};

/// Where a firmware would flash the blob (after 64 KiB of code).
const BLOB_ADDR: usize = 0x0001_0000;
const BLOB_MAX: usize = 0x0003_0000;

static mut SCRATCH: Scratch<TINY_SCRATCH> = Scratch::new();
static mut IMAGE: [u8; 784] = [0; 784];

#[unsafe(link_section = ".vector_table.reset")]
#[unsafe(no_mangle)]
#[used]
static RESET_VECTOR: unsafe extern "C" fn() -> ! = reset;

#[unsafe(no_mangle)]
unsafe extern "C" fn reset() -> ! {
    // SAFETY: single-threaded bare metal; the blob region is flash the parser only reads (and
    // validates: any content is safe to hand to `Model::parse`).
    let blob = unsafe { core::slice::from_raw_parts(BLOB_ADDR as *const u8, BLOB_MAX) };
    let scratch = unsafe { &mut *core::ptr::addr_of_mut!(SCRATCH) };
    let image = unsafe { &mut *core::ptr::addr_of_mut!(IMAGE) };
    if let Ok(model) = Model::parse_for_scratch::<TINY_SCRATCH>(blob) {
        let mut z = [0f32; 64];
        let n = model.z_dim().min(64);
        latent(1, 0, &mut z[..n]);
        let label = (model.num_classes() > 0).then_some(3);
        let _ = model.generate(&z[..n], label, scratch, image);
        let _ = runtime_nostd::gray4(image[400]);
    }
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

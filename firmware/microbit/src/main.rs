//! tinygan's speed check on a Cortex-M0 (`thumbv6m-none-eabi`, the Raspberry Pi Pico's instruction
//! set: ARMv6-M, no `SMLAL`, soft float), on the BBC micro:bit as QEMU emulates it
//! (`-machine microbit`, nRF51822: 256 KB flash, 16 KB RAM); the same program as `mps2-an386`.
//! No display: it generates the grid the LM3S6965 firmware draws at boot (batch 0, 8 digits) and reports over semihosting, in
//! the LM3S6965's format:
//! * `MEM static_ram=<bytes> stack_room=<bytes>`;
//! * `MODEL z_dim=<n> num_classes=<n> macs=<n>`;
//! * `STATS digits=8 insns_per_digit=<n> peak_stack=<bytes>` (instructions exact under
//!   `qemu-system-arm -icount shift=0`, from SysTick, calibrated at boot against a loop of known
//!   length);
//! * `PIXELS crc32=<hex>,...`: the CRC-32 of each digit's 784 pixels, which the host runtime must
//!   reproduce (the portable kernel here);
//!
//! then exits QEMU.

#![no_std]
#![no_main]

use core::{
    panic::PanicInfo,
    ptr::{addr_of, addr_of_mut},
};

use cortex_m::peripheral::{SYST, syst::SystClkSource};
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use runtime_nostd::{Model, TINY_SCRATCH, TinyScratch};
use tinygan_fw::{MAX_Z, blob::BLOB, speed::timed_batch};

/// Fills the unused stack with this; whatever is overwritten was used.
const PAINT: u32 = 0x5ca1_ab1e;
const RAM_START: usize = 0x2000_0000;
/// Digits per report: the LM3S6965 firmware's grid.
const DIGITS: u32 = 8;

unsafe extern "C" {
    /// Start of the RAM that no static uses (cortex-m-rt's linker script).
    static mut __sheap: u32;
    /// Top of the stack.
    static _stack_start: u32;
}

/// Paints the free stack below the caller's frames with [`PAINT`].
#[inline(never)]
fn paint_stack() {
    let mut p = addr_of_mut!(__sheap);
    let top = (cortex_m::register::msp::read() as usize - 64) & !3;
    while (p as usize) < top {
        // SAFETY: [__sheap, top) is RAM below the current stack pointer that nothing uses.
        unsafe {
            p.write_volatile(PAINT);
            p = p.add(1);
        }
    }
}

/// Deepest stack use so far, in bytes.
fn peak_stack() -> usize {
    let mut p = addr_of!(__sheap);
    let top = addr_of!(_stack_start) as usize;
    // SAFETY: reading RAM between the statics and the stack top.
    unsafe {
        while (p as usize) < top && p.read_volatile() == PAINT {
            p = p.add(1);
        }
    }
    top - p as usize
}

/// SysTick ticks since `start` (a down-counter, 24 bits; callers keep intervals short).
fn ticks_since(start: u32) -> u32 {
    start.wrapping_sub(SYST::get_current()) & 0x00FF_FFFF
}

/// Instructions of the calibration loop.
const CALIBRATION_INSNS: u64 = 2_000_000;

/// SysTick ticks for [`CALIBRATION_INSNS`] instructions (a countdown loop of known length): under
/// `-icount shift=0`, instructions = ticks × `CALIBRATION_INSNS` / this, exactly (no rounding of
/// the tick length: 62.5 ns on the micro:bit's 16 MHz, 40 ns on the AN386's 25 MHz).
fn calibrate() -> u64 {
    let start = SYST::get_current();
    // SAFETY: a register-only countdown loop (2 instructions per iteration).
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) (CALIBRATION_INSNS / 2) as u32 => _,
            options(nomem, nostack),
        );
    }
    (ticks_since(start) as u64).max(1)
}

fn fail(what: &dyn core::fmt::Display) -> ! {
    hprintln!("BLOB ERROR {}", what);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[entry]
fn main() -> ! {
    paint_stack();
    let mut core = cortex_m::Peripherals::take().unwrap();
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(0x00FF_FFFF);
    core.SYST.clear_current();
    core.SYST.enable_counter();
    let calibration_ticks = calibrate();

    let static_ram = addr_of!(__sheap) as usize - RAM_START;
    hprintln!(
        "MEM static_ram={} stack_room={} calibration_ticks={}",
        static_ram,
        addr_of!(_stack_start) as usize - addr_of!(__sheap) as usize,
        calibration_ticks
    );
    let Some(scratch) = cortex_m::singleton!(: TinyScratch = TinyScratch::new()) else {
        fail(&"scratch taken twice")
    };
    let model = match Model::parse_for_scratch::<TINY_SCRATCH>(BLOB) {
        Ok(model) if model.z_dim() <= MAX_Z => model,
        Ok(_) => fail(&"latent too long"),
        Err(error) => fail(&error),
    };
    model.prepare(scratch);
    hprintln!(
        "MODEL z_dim={} num_classes={} macs={}",
        model.z_dim(),
        model.num_classes(),
        model.macs()
    );

    let mut crcs = [0u32; DIGITS as usize];
    let ticks = match timed_batch(&model, scratch, &mut crcs, SYST::get_current, ticks_since) {
        Ok(ticks) => ticks,
        Err(error) => fail(&error),
    };
    hprintln!(
        "STATS digits={} insns_per_digit={} peak_stack={}",
        DIGITS,
        ticks * CALIBRATION_INSNS / (calibration_ticks * DIGITS as u64),
        peak_stack()
    );
    hprintln!(
        "PIXELS crc32={:08x},{:08x},{:08x},{:08x},{:08x},{:08x},{:08x},{:08x}",
        crcs[0],
        crcs[1],
        crcs[2],
        crcs[3],
        crcs[4],
        crcs[5],
        crcs[6],
        crcs[7]
    );
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("PANIC {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

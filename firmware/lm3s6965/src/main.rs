//! tinygan on the TI LM3S6965 evaluation board (QEMU `-machine lm3s6965evb`): draws freshly sampled
//! digits on the board's 128×64 16-grey OLED and reports over semihosting.
//!
//! Semihosting lines (the QEMU test reads them):
//! * `MEM flash=<bytes> static_ram=<bytes> ... core_mhz=<n>` once at boot;
//! * `STATS digits=<n> insns_per_digit=<n> peak_stack=<bytes>` after each frame, the instruction
//!   count being exact under `qemu-system-arm -icount shift=0` (one instruction per nanosecond of
//!   virtual time, timed with SysTick);
//! * `FRAME seed=<n>` (grid), `FRAME walk=<from>-><to> step=<k>` or `FRAME counter=<n> seed=<n>`
//!   once a frame is on the display;
//! * `BLOB ERROR <error>` when the embedded blob is unusable; the display then shows the error and
//!   the firmware halts.

#![no_std]
#![no_main]

mod board;

use core::{
    panic::PanicInfo,
    ptr::{addr_of, addr_of_mut},
};

use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::hprintln;
use ssd0323::{BUFFER_SIZE, Ssd0323};
use tinygan_fw::{App, Frame, Scratch, View, blob::BLOB, buttons::Buttons};

/// Fills the unused stack with this; whatever is overwritten was used.
const PAINT: u32 = 0x5ca1_ab1e;

unsafe extern "C" {
    /// Start of the RAM that no static uses (cortex-m-rt's linker script).
    static mut __sheap: u32;
    /// Top of the stack.
    static _stack_start: u32;
    /// Load address of `.data` in flash, and `.data` in RAM: flash in use ends after `.data`'s copy.
    static __sidata: u32;
    static __sdata: u32;
    static __edata: u32;
}

const RAM_START: usize = 0x2000_0000;

fn addr<T>(p: *const T) -> usize {
    p as usize
}

/// Paints the free stack below the caller's frames with [`PAINT`].
#[inline(never)]
fn paint_stack() {
    let bottom = addr_of_mut!(__sheap);
    // Leave this function's own frame (and a margin) alone.
    let top = (cortex_m::register::msp::read() as usize - 64) & !3;
    let mut p = bottom;
    while addr(p) < top {
        // SAFETY: [__sheap, top) is RAM below the current stack pointer that nothing uses.
        unsafe {
            p.write_volatile(PAINT);
            p = p.add(1);
        }
    }
}

/// Deepest stack use so far, in bytes: the stack top minus the lowest overwritten painted word.
fn peak_stack() -> usize {
    let mut p = addr_of!(__sheap);
    // SAFETY: reading RAM between the statics and the stack top.
    unsafe {
        while addr(p) < addr(addr_of!(_stack_start)) && p.read_volatile() == PAINT {
            p = p.add(1);
        }
    }
    addr(addr_of!(_stack_start)) - addr(p)
}

#[entry]
fn main() -> ! {
    paint_stack();
    let core = cortex_m::Peripherals::take().unwrap();
    board::start_pll_50mhz();
    board::init_pins();
    let clock = board::start_clock(core.SYST);
    let ns_per_cycle = board::ns_per_cycle() as u64;

    // Statics in .bss, handed out once (`main` does not return, so these never are `None`).
    let (Some(framebuffer), Some(scratch)) = (
        cortex_m::singleton!(: [u8; BUFFER_SIZE] = [0; BUFFER_SIZE]),
        cortex_m::singleton!(: Scratch = Scratch::new()),
    ) else {
        panic!("statics taken twice")
    };
    let mut display = Ssd0323::new(board::Ssi0::new(), board::DcPin::new(), framebuffer);
    display.init().ok();

    let flash = addr(addr_of!(__sidata)) + (addr(addr_of!(__edata)) - addr(addr_of!(__sdata)));
    let static_ram = addr(addr_of!(__sheap)) - RAM_START;
    hprintln!(
        "MEM flash={} static_ram={} blob={} blob_addr={} stack_room={} core_mhz={}",
        flash,
        static_ram,
        BLOB.len(),
        BLOB.as_ptr() as usize,
        addr(addr_of!(_stack_start)) - addr(addr_of!(__sheap)),
        1000 / ns_per_cycle,
    );

    let mut app = match App::new(BLOB, scratch) {
        Ok(app) => app,
        Err(error) => halt_with(&mut display, &error),
    };
    let model = app.model();
    hprintln!(
        "MODEL z_dim={} num_classes={} macs={}",
        model.z_dim(),
        model.num_classes(),
        model.macs()
    );

    let mut buttons = Buttons::new();
    let mut now = || clock.now();
    loop {
        if let Some(button) = buttons.update(board::buttons_released()) {
            let acted = app.press(button);
            hprintln!(
                "BUTTON {:?}{}",
                button,
                if acted { "" } else { " (ignored)" }
            );
        }
        match app.next_frame(&mut display, &mut now) {
            None => continue,
            Some(Err(error)) => halt_with(&mut display, &error),
            Some(Ok(frame)) => {
                display.flush().ok();
                report(&frame, ns_per_cycle);
            }
        }
    }
}

fn report(frame: &Frame, ns_per_cycle: u64) {
    // -icount shift=0: one instruction per nanosecond of virtual time.
    let insns = frame.generate_ticks * ns_per_cycle / frame.digits.max(1) as u64;
    hprintln!(
        "STATS digits={} insns_per_digit={} peak_stack={}",
        frame.digits,
        insns,
        peak_stack()
    );
    match frame.view {
        View::Grid { seed } => hprintln!("FRAME seed={}", seed),
        View::Walk { from, to, step } => hprintln!("FRAME walk={}->{} step={}", from, to, step),
        View::Counter { value, seed } => hprintln!("FRAME counter={} seed={}", value, seed),
    }
}

/// Shows `error` on the display and over semihosting, then stops. Display only: the derived
/// `Debug` of the error types pulled ~8 KB of formatting code into flash.
fn halt_with<E>(display: &mut Ssd0323<'_, board::Ssi0, board::DcPin>, error: &E) -> !
where
    E: core::fmt::Display,
{
    tinygan_fw::draw_error(display, error).ok();
    display.flush().ok();
    hprintln!("BLOB ERROR {}", error);
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
fn SysTick() {
    board::systick_wrapped();
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("PANIC {}", info);
    loop {
        cortex_m::asm::wfi();
    }
}

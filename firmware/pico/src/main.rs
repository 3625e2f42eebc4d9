//! tinygan on a Raspberry Pi Pico with an SSD1306 128×64 OLED (I2C) and five push buttons.
//!
//! Same drawing and sampling code as the LM3S6965 board (`tinygan-fw`); the monochrome SSD1306
//! shows the 16 grey levels by ordered dithering ([`tinygan_fw::dither::Dithered`]).
//!
//! Wiring (see firmware/README.md): OLED SDA → GP4, SCL → GP5 (I2C0, 400 kHz, address 0x3C);
//! buttons from GP10 (select), GP11 (up), GP12 (down), GP13 (left), GP14 (right) to GND (internal
//! pull-ups). The on-board LED (GP25) is lit while a frame is being generated.

#![no_std]
#![no_main]

use embedded_hal::digital::{InputPin, OutputPin};
use panic_halt as _;
use rp2040_hal::{
    self as hal, Clock,
    fugit::RateExtU32,
    gpio::{FunctionI2C, Pin, PullUp},
    pac,
};
use ssd1306::{I2CDisplayInterface, Ssd1306, prelude::*};
use tinygan_fw::{App, Scratch, blob::BLOB, buttons::Buttons, dither::Dithered};

/// Second-stage boot loader for the Pico's W25Q080 flash.
#[unsafe(link_section = ".boot2")]
#[used]
pub static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// The Pico's crystal.
const XTAL_FREQ_HZ: u32 = 12_000_000;

#[hal::entry]
fn main() -> ! {
    let mut pac = pac::Peripherals::take().unwrap();
    let mut watchdog = hal::Watchdog::new(pac.WATCHDOG);
    let clocks = hal::clocks::init_clocks_and_plls(
        XTAL_FREQ_HZ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    )
    .ok()
    .unwrap();
    let sio = hal::Sio::new(pac.SIO);
    let pins = hal::gpio::Pins::new(
        pac.IO_BANK0,
        pac.PADS_BANK0,
        sio.gpio_bank0,
        &mut pac.RESETS,
    );
    let timer = hal::Timer::new(pac.TIMER, &mut pac.RESETS, &clocks);

    let sda: Pin<_, FunctionI2C, PullUp> = pins.gpio4.reconfigure();
    let scl: Pin<_, FunctionI2C, PullUp> = pins.gpio5.reconfigure();
    let i2c = hal::I2C::i2c0(
        pac.I2C0,
        sda,
        scl,
        400.kHz(),
        &mut pac.RESETS,
        clocks.system_clock.freq(),
    );
    let mut display = Ssd1306::new(
        I2CDisplayInterface::new(i2c),
        DisplaySize128x64,
        DisplayRotation::Rotate0,
    )
    .into_buffered_graphics_mode();
    display.init().unwrap();

    let mut led = pins.gpio25.into_push_pull_output();
    // Select, up, down, left, right: the bit order of `Buttons::update`.
    let mut button_pins = [
        pins.gpio10.into_pull_up_input().into_dyn_pin(),
        pins.gpio11.into_pull_up_input().into_dyn_pin(),
        pins.gpio12.into_pull_up_input().into_dyn_pin(),
        pins.gpio13.into_pull_up_input().into_dyn_pin(),
        pins.gpio14.into_pull_up_input().into_dyn_pin(),
    ];

    let Some(scratch) = cortex_m::singleton!(: Scratch = Scratch::new()) else {
        panic!("scratch taken twice")
    };
    let mut app = match App::new(BLOB, scratch) {
        Ok(app) => app,
        Err(error) => {
            tinygan_fw::draw_error(&mut Dithered::new(&mut display), &error).ok();
            display.flush().ok();
            loop {
                cortex_m::asm::wfi();
            }
        }
    };

    let mut buttons = Buttons::new();
    let mut now = || timer.get_counter().ticks();
    loop {
        let released = button_pins
            .iter_mut()
            .enumerate()
            .fold(0u8, |bits, (i, pin)| {
                bits | (u8::from(pin.is_high().unwrap_or(false)) << i)
            });
        if let Some(button) = buttons.update(released) {
            app.press(button);
        }
        if app.busy() {
            led.set_high().ok();
            if let Some(result) = app.next_frame(&mut Dithered::new(&mut display), &mut now) {
                if let Err(error) = result {
                    tinygan_fw::draw_error(&mut Dithered::new(&mut display), &error).ok();
                }
                display.flush().ok();
            }
            led.set_low().ok();
        } else {
            // Debounce: sample the buttons every 10 ms.
            cortex_m::asm::delay(clocks.system_clock.freq().to_Hz() / 100);
        }
    }
}

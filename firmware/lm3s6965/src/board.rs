//! The few LM3S6965 peripherals the firmware uses, by register address: SSI0 (the OLED's SPI), GPIO
//! port C pin 7 (the OLED's data/command line), port D pin 0 (chip select), the buttons on PE0..PE3
//! and PF1, the system clock register and SysTick.

use core::{
    convert::Infallible,
    ptr::{read_volatile, write_volatile},
    sync::atomic::{AtomicU32, Ordering},
};

use cortex_m::peripheral::{SYST, syst::SystClkSource};
use embedded_hal::{digital, spi};

const SYSCTL_RCC: usize = 0x400f_e060;
const SYSCTL_RCGC1: usize = 0x400f_e104;
const SYSCTL_RCGC2: usize = 0x400f_e108;

const SSI0: usize = 0x4000_8000;
const SSI_CR0: usize = 0x00;
const SSI_CR1: usize = 0x04;
const SSI_DR: usize = 0x08;
const SSI_SR: usize = 0x0c;
const SSI_CPSR: usize = 0x10;
const SR_TNF: u32 = 1 << 1;
const SR_RNE: u32 = 1 << 2;

const GPIO_A: usize = 0x4000_4000;
const GPIO_C: usize = 0x4000_6000;
const GPIO_D: usize = 0x4000_7000;
const GPIO_E: usize = 0x4002_4000;
const GPIO_F: usize = 0x4002_5000;
/// Data register with all eight pins unmasked (the address bits 9..2 mask the access).
const GPIO_DATA_ALL: usize = 0x3fc;
const GPIO_DIR: usize = 0x400;
const GPIO_AFSEL: usize = 0x420;
const GPIO_PUR: usize = 0x510;
const GPIO_DEN: usize = 0x51c;

fn read(addr: usize) -> u32 {
    // SAFETY: `addr` is one of the peripheral registers above, valid for 32-bit access.
    unsafe { read_volatile(addr as *const u32) }
}

fn write(addr: usize, value: u32) {
    // SAFETY: as in `read`; the firmware is single-threaded and owns these peripherals.
    unsafe { write_volatile(addr as *mut u32, value) }
}

fn set_bits(addr: usize, bits: u32) {
    write(addr, read(addr) | bits);
}

/// Clocks the peripherals and configures the pins: SSI0 on PA2/PA3/PA5, PC7 and PD0 outputs
/// (PD0 high: chip select of the OLED in QEMU, the SD card's, deselected, on the real board), PE0..3
/// and PF1 inputs with pull-ups.
const SYSCTL_RIS: usize = 0x400f_e050;
/// RCC fields: crystal value 8 MHz, PLL output divided by SYSDIV + 1 = 4.
const RCC_XTAL_MASK: u32 = 0xf << 6;
const RCC_XTAL_8MHZ: u32 = 0xe << 6;
const RCC_OSCSRC_MASK: u32 = 0x3 << 4;
const RCC_BYPASS: u32 = 1 << 11;
const RCC_OEN: u32 = 1 << 12;
const RCC_PWRDN: u32 = 1 << 13;
const RCC_USESYSDIV: u32 = 1 << 22;
const RCC_SYSDIV_MASK: u32 = 0xf << 23;
const RCC_SYSDIV_4: u32 = 3 << 23;
const RIS_PLLLRIS: u32 = 1 << 6;

/// Runs the core at 50 MHz (the LM3S6965's maximum) from the PLL: the 8 MHz main crystal (the
/// EK-LM3S6965's) drives the 400 MHz PLL, whose 200 MHz output is divided by 4 (StellarisWare's
/// `SysCtlClockSet(SYSCTL_SYSDIV_4 | SYSCTL_USE_PLL | SYSCTL_OSC_MAIN | SYSCTL_XTAL_8MHZ)`
/// sequence). QEMU derives the core clock from SYSDIV the same way, so SysTick then counts 20 ns
/// ticks ([`ns_per_cycle`]).
pub fn start_pll_50mhz() {
    // Run from the raw oscillator while the PLL is reconfigured.
    let mut rcc = read(SYSCTL_RCC);
    rcc = (rcc | RCC_BYPASS) & !RCC_USESYSDIV;
    write(SYSCTL_RCC, rcc);
    // Main oscillator, 8 MHz crystal, PLL powered and its output enabled.
    rcc = (rcc & !(RCC_XTAL_MASK | RCC_OSCSRC_MASK | RCC_PWRDN | RCC_OEN)) | RCC_XTAL_8MHZ;
    write(SYSCTL_RCC, rcc);
    // Divide by 4.
    rcc = (rcc & !RCC_SYSDIV_MASK) | RCC_SYSDIV_4 | RCC_USESYSDIV;
    write(SYSCTL_RCC, rcc);
    // Wait for the PLL to lock (bounded: a stuck PLL leaves the core on the oscillator), then
    // switch to it.
    for _ in 0..100_000 {
        if read(SYSCTL_RIS) & RIS_PLLLRIS != 0 {
            break;
        }
    }
    write(SYSCTL_RCC, rcc & !RCC_BYPASS);
}

pub fn init_pins() {
    set_bits(SYSCTL_RCGC1, 1 << 4); // SSI0
    set_bits(SYSCTL_RCGC2, 0x7f); // GPIO A..G
    cortex_m::asm::delay(16);
    set_bits(GPIO_A + GPIO_AFSEL, 0b0010_1100);
    set_bits(GPIO_A + GPIO_DEN, 0b0010_1100);
    for (port, pin) in [(GPIO_C, 7), (GPIO_D, 0)] {
        set_bits(port + GPIO_DIR, 1 << pin);
        set_bits(port + GPIO_DEN, 1 << pin);
    }
    write(GPIO_D + (1 << 2), 1);
    for (port, pins) in [(GPIO_E, 0x0f), (GPIO_F, 0x02)] {
        set_bits(port + GPIO_PUR, pins);
        set_bits(port + GPIO_DEN, pins);
    }
}

/// SSI0 as an [`embedded_hal::spi::SpiDevice`]: SPI mode 3, 8-bit frames.
///
/// Chip select is left to the pins (PD0 in QEMU, the SSI's own frame signal on the real board).
pub struct Ssi0(());

impl Ssi0 {
    /// Configures SSI0 as master: mode 3, 8 bits, bit clock = system clock / 14 (3.6 MHz at
    /// 50 MHz; the SSD0323 takes up to 4 MHz).
    pub fn new() -> Self {
        write(SSI0 + SSI_CR1, 0);
        write(SSI0 + SSI_CPSR, 14);
        write(SSI0 + SSI_CR0, 0xc7);
        write(SSI0 + SSI_CR1, 0x02);
        Ssi0(())
    }

    /// Sends one byte and returns the byte received meanwhile. Waiting for every received byte keeps
    /// QEMU's PL022 from stalling on a full receive FIFO, and means the byte has left the wire.
    fn transfer_byte(&mut self, byte: u8) -> u8 {
        while read(SSI0 + SSI_SR) & SR_TNF == 0 {}
        write(SSI0 + SSI_DR, byte as u32);
        while read(SSI0 + SSI_SR) & SR_RNE == 0 {}
        read(SSI0 + SSI_DR) as u8
    }
}

impl spi::ErrorType for Ssi0 {
    type Error = Infallible;
}

impl spi::SpiDevice for Ssi0 {
    fn transaction(&mut self, operations: &mut [spi::Operation<'_, u8>]) -> Result<(), Infallible> {
        for operation in operations {
            match operation {
                spi::Operation::Write(bytes) => bytes.iter().for_each(|&b| {
                    self.transfer_byte(b);
                }),
                spi::Operation::Read(bytes) => bytes.iter_mut().for_each(|b| {
                    *b = self.transfer_byte(0);
                }),
                spi::Operation::Transfer(read, write) => {
                    for i in 0..read.len().max(write.len()) {
                        let received = self.transfer_byte(write.get(i).copied().unwrap_or(0));
                        if let Some(r) = read.get_mut(i) {
                            *r = received;
                        }
                    }
                }
                spi::Operation::TransferInPlace(bytes) => bytes.iter_mut().for_each(|b| {
                    *b = self.transfer_byte(*b);
                }),
                spi::Operation::DelayNs(ns) => cortex_m::asm::delay(*ns / 20 + 1),
            }
        }
        Ok(())
    }
}

/// PC7: the OLED's data (high) / command (low) line.
pub struct DcPin(());

impl DcPin {
    /// The pin (configured as an output by [`init_pins`]).
    pub fn new() -> Self {
        DcPin(())
    }
}

impl digital::ErrorType for DcPin {
    type Error = Infallible;
}

impl digital::OutputPin for DcPin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        write(GPIO_C + (0x80 << 2), 0);
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        write(GPIO_C + (0x80 << 2), 0x80);
        Ok(())
    }
}

/// Button levels as [`tinygan_fw::buttons::Buttons::update`] wants them: bit set = released.
/// Bits: select (PF1), up (PE0), down (PE1), left (PE2), right (PE3); the lines are active low.
pub fn buttons_released() -> u8 {
    let e = read(GPIO_E + GPIO_DATA_ALL) & 0x0f;
    let f = read(GPIO_F + GPIO_DATA_ALL);
    (((f >> 1) & 1) | (e << 1)) as u8
}

/// Nanoseconds per core clock cycle, from the clock configuration (RCC's SYSDIV field: the 200 MHz
/// PLL divided by SYSDIV + 1, as QEMU computes it; 80 ns, 12.5 MHz, after reset; 20 ns, 50 MHz,
/// after [`start_pll_50mhz`]).
pub fn ns_per_cycle() -> u32 {
    5 * (((read(SYSCTL_RCC) >> 23) & 0xf) + 1)
}

static SYSTICK_WRAPS: AtomicU32 = AtomicU32::new(0);

/// Counts SysTick wrap-arounds; called from the SysTick exception.
pub fn systick_wrapped() {
    SYSTICK_WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// Core clock cycles since [`start_clock`], from SysTick (24 bits) and its wrap count.
pub struct Clock(());

const SYSTICK_RELOAD: u32 = 0x00ff_ffff;

/// Runs SysTick from the core clock, interrupting on every wrap.
pub fn start_clock(mut syst: SYST) -> Clock {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYSTICK_RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    Clock(())
}

impl Clock {
    /// Cycles elapsed.
    pub fn now(&self) -> u64 {
        loop {
            let wraps = SYSTICK_WRAPS.load(Ordering::Relaxed);
            let current = SYST::get_current();
            if wraps == SYSTICK_WRAPS.load(Ordering::Relaxed) {
                return wraps as u64 * (SYSTICK_RELOAD as u64 + 1)
                    + (SYSTICK_RELOAD - current) as u64;
            }
        }
    }
}

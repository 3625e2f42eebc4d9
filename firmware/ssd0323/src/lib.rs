//! An [embedded-graphics] driver for the Solomon Systech **SSD0323**: a 128×64 OLED controller with
//! 16 grey levels, driven over SPI (4-wire: SCK, MOSI, chip select and a data/command line).
//!
//! The driver is *buffered*: drawing goes into a caller-provided frame buffer (4 bits per pixel,
//! [`BUFFER_SIZE`] bytes, typically a `static`), and [`Ssd0323::flush`] sends the whole buffer to the
//! display. It never allocates.
//!
//! [`Ssd0323`] implements [`DrawTarget`] with [`Gray4`] colours (`Gray4::new(0)` is off,
//! `Gray4::new(15)` full brightness) and [`OriginDimensions`] (128×64), so every embedded-graphics
//! primitive, text style and image works on it.
//!
//! This is the display of the Texas Instruments (Luminary Micro) LM3S6965 evaluation board, which
//! QEMU emulates as `-machine lm3s6965evb`.
//!
//! # Example
//!
//! ```
//! # use ssd0323_doc_mock::{Spi, Pin};
//! use embedded_graphics::{
//!     pixelcolor::Gray4,
//!     prelude::*,
//!     primitives::{Circle, PrimitiveStyle},
//! };
//! use ssd0323::{Ssd0323, BUFFER_SIZE};
//!
//! # fn main() -> Result<(), ssd0323::Error<core::convert::Infallible, core::convert::Infallible>> {
//! # let (spi, dc) = (Spi, Pin);
//! // `spi`: an `embedded_hal::spi::SpiDevice` (mode 3, up to 4 MHz), `dc`: the data/command pin.
//! let mut buffer = [0u8; BUFFER_SIZE];
//! let mut display = Ssd0323::new(spi, dc, &mut buffer);
//! display.init()?;
//!
//! Circle::new(Point::new(48, 16), 32)
//!     .into_styled(PrimitiveStyle::with_fill(Gray4::new(12)))
//!     .draw(&mut display)
//!     .unwrap(); // drawing into the buffer cannot fail
//! display.flush()?;
//! # Ok(())
//! # }
//! # mod ssd0323_doc_mock {
//! #     use core::convert::Infallible;
//! #     pub struct Spi;
//! #     impl embedded_hal::spi::ErrorType for Spi { type Error = Infallible; }
//! #     impl embedded_hal::spi::SpiDevice for Spi {
//! #         fn transaction(&mut self, _: &mut [embedded_hal::spi::Operation<'_, u8>]) -> Result<(), Infallible> { Ok(()) }
//! #     }
//! #     pub struct Pin;
//! #     impl embedded_hal::digital::ErrorType for Pin { type Error = Infallible; }
//! #     impl embedded_hal::digital::OutputPin for Pin {
//! #         fn set_low(&mut self) -> Result<(), Infallible> { Ok(()) }
//! #         fn set_high(&mut self) -> Result<(), Infallible> { Ok(()) }
//! #     }
//! # }
//! ```
//!
//! [embedded-graphics]: https://docs.rs/embedded-graphics

#![no_std]
#![deny(missing_docs)]

use core::convert::Infallible;

use embedded_graphics_core::{
    Pixel,
    draw_target::DrawTarget,
    geometry::{Dimensions, OriginDimensions, Size},
    pixelcolor::{Gray4, GrayColor},
    prelude::PointsIter,
    primitives::Rectangle,
};
use embedded_hal::{digital::OutputPin, spi::SpiDevice};

/// Display width in pixels.
pub const WIDTH: u32 = 128;
/// Display height in pixels.
pub const HEIGHT: u32 = 64;
/// Size of the frame buffer in bytes: two 4-bit pixels per byte.
pub const BUFFER_SIZE: usize = (WIDTH * HEIGHT / 2) as usize;

/// Bytes per buffer row.
const ROW_BYTES: usize = (WIDTH / 2) as usize;

/// Power-on sequence (from TI StellarisWare's `osram128x64x4` driver): each entry is one command
/// with its arguments, sent with the data/command line low.
const INIT: &[&[u8]] = &[
    &[0x15, 0x00, 0x3f], // column address 0..63 (two pixels per column byte)
    &[0x75, 0x00, 0x3f], // row address 0..63
    &[0x81, 0x33],       // contrast
    &[0x85],             // full current range
    &[0xa0, 0x52],       // re-map: nibble order, COM split, horizontal address increment
    &[0xa1, 0x00],       // display start line 0
    &[0xa2, 0x4c],       // display offset
    &[0xa4],             // normal display
    &[0xa8, 0x3f],       // multiplex ratio 64
    &[0xb1, 0x22],       // phase length
    &[0xb2, 0x46],       // row period
    &[0xb3, 0x41],       // display clock divide
    &[0xbf, 0x0d],       // VSL
    &[0xbe, 0x02],       // VCOMH
    &[0xbc, 0x10],       // VP
    &[0xb8, 0x01, 0x11, 0x22, 0x32, 0x43, 0x54, 0x65, 0x76], // grey-scale table
    &[0xad, 0x03],       // master configuration: DC-DC converter on
    &[0xaf],             // display on
];

/// Select the whole display as the RAM window; the data that follows fills it row by row.
const WINDOW: &[&[u8]] = &[&[0x15, 0x00, 0x3f], &[0x75, 0x00, 0x3f]];

/// An error while talking to the display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<SpiE, PinE> {
    /// The SPI device failed.
    Spi(SpiE),
    /// Setting the data/command pin failed.
    Pin(PinE),
}

/// An SSD0323 display with its frame buffer.
///
/// Drawing (through [`DrawTarget`]) only changes the buffer; [`flush`](Self::flush) sends it.
///
/// ```
/// # use embedded_graphics::{pixelcolor::Gray4, prelude::*};
/// # use embedded_hal::digital::OutputPin;
/// # fn demo<S: embedded_hal::spi::SpiDevice, P: OutputPin>(spi: S, dc: P) {
/// let mut buffer = [0u8; ssd0323::BUFFER_SIZE];
/// let mut display = ssd0323::Ssd0323::new(spi, dc, &mut buffer);
/// display.clear(Gray4::new(3)).unwrap();
/// assert_eq!(display.size(), Size::new(128, 64));
/// assert_eq!(display.buffer()[0], 0x33);
/// # }
/// ```
pub struct Ssd0323<'a, SPI, DC> {
    spi: SPI,
    dc: DC,
    buffer: &'a mut [u8; BUFFER_SIZE],
}

impl<'a, SPI, DC> Ssd0323<'a, SPI, DC>
where
    SPI: SpiDevice,
    DC: OutputPin,
{
    /// Wraps an SPI device (SPI mode 3, 8-bit words; it handles chip select) and the data/command
    /// output pin (low: command, high: data). `buffer` holds the picture (row-major, two pixels a
    /// byte, left pixel in the high nibble); it is used as it is, not cleared. Sends nothing yet.
    pub fn new(spi: SPI, dc: DC, buffer: &'a mut [u8; BUFFER_SIZE]) -> Self {
        Self { spi, dc, buffer }
    }

    /// Sends the power-on command sequence, then the current buffer.
    pub fn init(&mut self) -> Result<(), Error<SPI::Error, DC::Error>> {
        self.commands(INIT)?;
        self.flush()
    }

    /// Sends the whole frame buffer to the display ([`BUFFER_SIZE`] bytes plus six command bytes).
    pub fn flush(&mut self) -> Result<(), Error<SPI::Error, DC::Error>> {
        self.commands(WINDOW)?;
        self.dc.set_high().map_err(Error::Pin)?;
        self.spi.write(&self.buffer[..]).map_err(Error::Spi)
    }

    /// The frame buffer: row-major, `WIDTH / 2` bytes a row, left pixel in the high nibble.
    pub fn buffer(&self) -> &[u8; BUFFER_SIZE] {
        self.buffer
    }

    /// Gives back the SPI device, the data/command pin and the buffer.
    pub fn release(self) -> (SPI, DC, &'a mut [u8; BUFFER_SIZE]) {
        (self.spi, self.dc, self.buffer)
    }

    fn commands(&mut self, commands: &[&[u8]]) -> Result<(), Error<SPI::Error, DC::Error>> {
        self.dc.set_low().map_err(Error::Pin)?;
        for command in commands {
            self.spi.write(command).map_err(Error::Spi)?;
        }
        Ok(())
    }

    /// Sets one pixel in the buffer; `x < WIDTH`, `y < HEIGHT`.
    #[inline]
    fn set(&mut self, x: u32, y: u32, luma: u8) {
        let byte = &mut self.buffer[y as usize * ROW_BYTES + x as usize / 2];
        *byte = if x & 1 == 0 {
            (*byte & 0x0f) | (luma << 4)
        } else {
            (*byte & 0xf0) | luma
        };
    }
}

impl<SPI, DC> OriginDimensions for Ssd0323<'_, SPI, DC> {
    fn size(&self) -> Size {
        Size::new(WIDTH, HEIGHT)
    }
}

impl<SPI, DC> DrawTarget for Ssd0323<'_, SPI, DC>
where
    SPI: SpiDevice,
    DC: OutputPin,
{
    type Color = Gray4;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(point, color) in pixels {
            if let (Ok(x), Ok(y)) = (u32::try_from(point.x), u32::try_from(point.y))
                && x < WIDTH
                && y < HEIGHT
            {
                self.set(x, y, color.luma());
            }
        }
        Ok(())
    }

    fn fill_contiguous<I>(&mut self, area: &Rectangle, colors: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Self::Color>,
    {
        let visible = area.intersection(&self.bounding_box());
        if visible.size == area.size {
            // Fully on screen: no clipping needed, walk the rectangle row by row.
            let (x0, y0) = (area.top_left.x as u32, area.top_left.y as u32);
            let mut colors = colors.into_iter();
            for y in y0..y0 + area.size.height {
                for x in x0..x0 + area.size.width {
                    match colors.next() {
                        Some(color) => self.set(x, y, color.luma()),
                        None => return Ok(()),
                    }
                }
            }
            Ok(())
        } else {
            self.draw_iter(
                area.points()
                    .zip(colors)
                    .filter(|(point, _)| visible.contains(*point))
                    .map(|(point, color)| Pixel(point, color)),
            )
        }
    }

    fn clear(&mut self, color: Gray4) -> Result<(), Self::Error> {
        self.buffer.fill(color.luma() * 0x11);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use embedded_graphics::{
        image::{Image, ImageRaw},
        prelude::*,
        primitives::{PrimitiveStyle, Rectangle},
    };
    use embedded_hal::{digital, spi};

    use super::*;

    /// Records every SPI write together with the D/C level it was sent with.
    #[derive(Default)]
    struct Bus {
        dc_high: bool,
        log: Vec<(bool, Vec<u8>)>,
    }
    struct Spi<'a>(&'a core::cell::RefCell<Bus>);
    struct Dc<'a>(&'a core::cell::RefCell<Bus>);

    impl spi::ErrorType for Spi<'_> {
        type Error = Infallible;
    }
    impl spi::SpiDevice for Spi<'_> {
        fn transaction(&mut self, ops: &mut [spi::Operation<'_, u8>]) -> Result<(), Infallible> {
            let mut bus = self.0.borrow_mut();
            for op in ops {
                if let spi::Operation::Write(bytes) = op {
                    let dc = bus.dc_high;
                    bus.log.push((dc, bytes.to_vec()));
                }
            }
            Ok(())
        }
    }
    impl digital::ErrorType for Dc<'_> {
        type Error = Infallible;
    }
    impl digital::OutputPin for Dc<'_> {
        fn set_low(&mut self) -> Result<(), Infallible> {
            self.0.borrow_mut().dc_high = false;
            Ok(())
        }
        fn set_high(&mut self) -> Result<(), Infallible> {
            self.0.borrow_mut().dc_high = true;
            Ok(())
        }
    }

    #[test]
    fn init_sends_commands_then_the_buffer() {
        let bus = core::cell::RefCell::new(Bus::default());
        let mut buffer = [0x5a; BUFFER_SIZE];
        let mut display = Ssd0323::new(Spi(&bus), Dc(&bus), &mut buffer);
        display.init().unwrap();
        let log = &bus.borrow().log;
        assert_eq!(log.len(), INIT.len() + WINDOW.len() + 1);
        assert!(log[..log.len() - 1].iter().all(|(dc, _)| !dc));
        assert_eq!(log[0].1, [0x15, 0x00, 0x3f]);
        assert_eq!(log.last().unwrap(), &(true, std::vec![0x5a; BUFFER_SIZE]));
    }

    #[test]
    fn pixels_pack_two_per_byte_left_in_high_nibble() {
        let bus = core::cell::RefCell::new(Bus::default());
        let mut buffer = [0; BUFFER_SIZE];
        let mut display = Ssd0323::new(Spi(&bus), Dc(&bus), &mut buffer);
        Pixel(Point::new(0, 0), Gray4::new(0xa))
            .draw(&mut display)
            .unwrap();
        Pixel(Point::new(1, 0), Gray4::new(0x3))
            .draw(&mut display)
            .unwrap();
        Pixel(Point::new(127, 63), Gray4::new(0xf))
            .draw(&mut display)
            .unwrap();
        // Off-screen pixels are ignored.
        Pixel(Point::new(128, 0), Gray4::WHITE)
            .draw(&mut display)
            .unwrap();
        Pixel(Point::new(-1, 5), Gray4::WHITE)
            .draw(&mut display)
            .unwrap();
        let buffer = display.buffer();
        assert_eq!(buffer[0], 0xa3);
        assert_eq!(buffer[BUFFER_SIZE - 1], 0x0f);
        assert_eq!(buffer.iter().filter(|&&b| b != 0).count(), 2);
    }

    /// Uses only `draw_iter`, so embedded-graphics' default `fill_contiguous` applies.
    struct PixelByPixel<'a>(Ssd0323<'a, Spi<'a>, Dc<'a>>);
    impl OriginDimensions for PixelByPixel<'_> {
        fn size(&self) -> Size {
            self.0.size()
        }
    }
    impl DrawTarget for PixelByPixel<'_> {
        type Color = Gray4;
        type Error = Infallible;
        fn draw_iter<I: IntoIterator<Item = Pixel<Gray4>>>(
            &mut self,
            pixels: I,
        ) -> Result<(), Infallible> {
            self.0.draw_iter(pixels)
        }
    }

    #[test]
    fn fill_contiguous_matches_draw_iter_with_clipping() {
        let data: Vec<u8> = (0..8u8 * 5)
            .map(|i| i.wrapping_mul(37) ^ (i >> 1))
            .collect();
        let raw = ImageRaw::<Gray4>::new(&data, 16);
        for (x, y) in [(3, 4), (-5, -2), (120, 60), (0, 0), (113, 55)] {
            let bus = core::cell::RefCell::new(Bus::default());
            let (mut fast, mut slow) = ([0; BUFFER_SIZE], [0; BUFFER_SIZE]);
            let mut a = Ssd0323::new(Spi(&bus), Dc(&bus), &mut fast);
            Image::new(&raw, Point::new(x, y)).draw(&mut a).unwrap();
            let mut b = PixelByPixel(Ssd0323::new(Spi(&bus), Dc(&bus), &mut slow));
            Image::new(&raw, Point::new(x, y)).draw(&mut b).unwrap();
            assert_eq!(a.buffer(), b.0.buffer(), "at ({x}, {y})");
        }
    }

    #[test]
    fn clear_and_fill_solid() {
        let bus = core::cell::RefCell::new(Bus::default());
        let mut buffer = [0; BUFFER_SIZE];
        let mut display = Ssd0323::new(Spi(&bus), Dc(&bus), &mut buffer);
        display.clear(Gray4::new(7)).unwrap();
        assert!(display.buffer().iter().all(|&b| b == 0x77));
        Rectangle::new(Point::new(1, 0), Size::new(2, 1))
            .into_styled(PrimitiveStyle::with_fill(Gray4::new(1)))
            .draw(&mut display)
            .unwrap();
        assert_eq!(&display.buffer()[..3], &[0x71, 0x17, 0x77]);
    }
}

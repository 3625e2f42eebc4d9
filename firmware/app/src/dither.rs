//! Grey on a monochrome display: ordered (Bayer 4×4) dithering.

use embedded_graphics::{
    Pixel,
    pixelcolor::{BinaryColor, Gray4, GrayColor},
    prelude::{Dimensions, DrawTarget},
    primitives::Rectangle,
};

/// 4×4 Bayer matrix: 16 thresholds, one per grey level.
const BAYER: [[u8; 4]; 4] = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]];

/// Whether a pixel of grey `luma` (0..=15) at `(x, y)` is lit: level 0 is never lit, level 15
/// always, level `n` in about `n` of 15 pixels of any 4×4 block.
pub const fn lit(luma: u8, x: i32, y: i32) -> bool {
    let threshold = BAYER[(y & 3) as usize][(x & 3) as usize] as u32;
    luma as u32 * 16 > threshold * 15 + 7
}

/// Adapts a [`BinaryColor`] display (an SSD1306, say) into a [`Gray4`] [`DrawTarget`] by ordered
/// dithering, so the same drawing code serves grey and monochrome displays.
///
/// ```
/// use embedded_graphics::{mock_display::MockDisplay, pixelcolor::{BinaryColor, Gray4}, prelude::*};
/// use tinygan_fw::dither::Dithered;
///
/// let mut mono = MockDisplay::<BinaryColor>::new();
/// let mut grey = Dithered::new(&mut mono);
/// Pixel(Point::new(0, 0), Gray4::WHITE).draw(&mut grey).unwrap();
/// Pixel(Point::new(1, 0), Gray4::BLACK).draw(&mut grey).unwrap();
/// mono.assert_pattern(&["#."]);
/// ```
pub struct Dithered<'a, D> {
    inner: &'a mut D,
}

impl<'a, D> Dithered<'a, D> {
    /// Wraps a monochrome draw target.
    pub fn new(inner: &'a mut D) -> Self {
        Self { inner }
    }
}

impl<D: Dimensions> Dimensions for Dithered<'_, D> {
    fn bounding_box(&self) -> Rectangle {
        self.inner.bounding_box()
    }
}

impl<D: DrawTarget<Color = BinaryColor>> DrawTarget for Dithered<'_, D> {
    type Color = Gray4;
    type Error = D::Error;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Gray4>>,
    {
        self.inner.draw_iter(
            pixels
                .into_iter()
                .map(|Pixel(p, c)| Pixel(p, BinaryColor::from(lit(c.luma(), p.x, p.y)))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::lit;

    #[test]
    fn each_level_lights_its_share_of_a_4x4_block() {
        for luma in 0..16u8 {
            let on = (0..16).filter(|i| lit(luma, i % 4, i / 4)).count() as u32;
            // round(16 · luma / 15): 0 for black, all 16 for white.
            assert_eq!(on, (32 * luma as u32 + 15) / 30, "level {luma}");
        }
    }
}

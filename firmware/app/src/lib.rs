//! Board-independent part of the tinygan firmware: the embedded generator [`blob`], sampling digits
//! with `runtime-nostd`, and drawing them with embedded-graphics on any
//! `DrawTarget<Color = Gray4>` (a monochrome display goes through [`dither::Dithered`]).
//!
//! A board binary reads its buttons into [`buttons::Buttons`], feeds the clicks to [`App::press`],
//! and calls [`App::next_frame`] until it returns `None`, flushing its display after each frame.
//!
//! # What is drawn
//!
//! * **Grid** (at boot and after *select*): the 8 digits of batch `seed` in a 4×2 grid (see
//!   [`layout`]). Digit `i` (row-major) is generated from `runtime_nostd::latent(seed, i)`; a
//!   conditional model gets label `i % num_classes`. The pixel value `v` of the generator is shown
//!   as grey level `runtime_nostd::gray4(v)`. The first batch is seed 0; *select* moves to the next.
//! * **Walk** (*left*/*right*): [`WALK_STEPS`] frames going from batch `seed` to `seed ∓ 1`; frame `k`
//!   uses `z = ((1 - t) a + t b) / sqrt((1 - t)² + t²)` with `t = k / WALK_STEPS`, `a` and `b` the
//!   latents of the two batches (the scaling keeps `z` standard-normal). The last frame is exactly
//!   the grid of the new seed.
//! * **Counter** (*up*/*down*, conditional models only): a number `0..=9999` written right-aligned
//!   with GAN-drawn digits, each press drawing fresh samples (the seed advances too): the digit at
//!   position `p` (0..4, left to right) comes from `latent(seed, p)` with the digit as label.

#![no_std]
#![deny(missing_docs)]

pub mod blob;
pub mod buttons;
pub mod dither;
pub mod layout;
pub mod speed;

use core::fmt::Write as _;

use embedded_graphics::{
    mono_font::{MonoTextStyle, ascii::FONT_6X10},
    pixelcolor::Gray4,
    prelude::*,
    primitives::Rectangle,
    text::{Baseline, Text},
};
use micromath::F32Ext;
use runtime_nostd::{BlobError, Model, RunError};

pub use buttons::Button;
pub use runtime_nostd;

/// Largest latent size the firmware supports.
pub const MAX_Z: usize = 128;
/// Frames of a latent-space walk between two neighbouring seeds.
pub const WALK_STEPS: u32 = 8;
/// Largest number the counter shows.
pub const COUNTER_MAX: u16 = 9999;

/// Pixels of one generated digit (the runtime's image).
pub const DIGIT_PIXELS: usize = runtime_nostd::IMAGE_PIXELS;

/// The generator's working memory: the `tiny` preset's size, derived from the preset table
/// ([`runtime_nostd::preset`]).
pub type Scratch = runtime_nostd::TinyScratch;

/// Why the firmware cannot draw digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The blob did not parse (checksum, version, shape...).
    Blob(BlobError),
    /// The generator failed on a sample.
    Run(RunError),
    /// The model needs a latent longer than [`MAX_Z`].
    LatentTooLong(usize),
}

impl From<BlobError> for Error {
    fn from(e: BlobError) -> Self {
        Error::Blob(e)
    }
}

impl From<RunError> for Error {
    fn from(e: RunError) -> Self {
        Error::Run(e)
    }
}

/// What a frame showed (for the board's log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The grid of batch `seed`.
    Grid {
        /// The batch.
        seed: u64,
    },
    /// Frame `step` of `1..WALK_STEPS` of a walk from batch `from` to batch `to`.
    Walk {
        /// Start of the walk.
        from: u64,
        /// End of the walk.
        to: u64,
        /// Frame within the walk.
        step: u32,
    },
    /// The counter showing `value`, sampled from batch `seed`.
    Counter {
        /// The number shown.
        value: u16,
        /// The batch its digits come from.
        seed: u64,
    },
}

/// One drawn frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// What was drawn.
    pub view: View,
    /// Digits generated for it.
    pub digits: u32,
    /// Clock ticks spent in the generator (latent sampling and the forward pass) for those
    /// digits, as measured with the `clock` passed to [`App::next_frame`].
    pub generate_ticks: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Nothing,
    Redraw,
    Walk { to: u64, step: u32 },
}

/// The firmware's state: the model, the current batch and what to draw next.
pub struct App<'s> {
    model: Model<'static>,
    scratch: &'s mut Scratch,
    seed: u64,
    counter: Option<u16>,
    pending: Pending,
}

impl<'s> App<'s> {
    /// Parses `blob` (checking its checksum and version) and schedules the first grid (seed 0).
    ///
    /// `scratch` is the generator's working memory; boards keep it in a `static`. Not inlined: the
    /// parser's temporaries stay out of the board's `main` frame (which lives as long as the app).
    #[inline(never)]
    pub fn new(blob: &'static [u8], scratch: &'s mut Scratch) -> Result<Self, Error> {
        let model = Model::parse_for_scratch::<{ runtime_nostd::TINY_SCRATCH }>(blob)?;
        if model.z_dim() > MAX_Z {
            return Err(Error::LatentTooLong(model.z_dim()));
        }
        // Build the pixel table now, so that the first frame costs what every frame costs.
        model.prepare(scratch);
        Ok(Self {
            model,
            scratch,
            seed: 0,
            counter: None,
            pending: Pending::Redraw,
        })
    }

    /// The model in use.
    pub fn model(&self) -> &Model<'static> {
        &self.model
    }

    /// The current batch.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether [`next_frame`](Self::next_frame) has something to draw.
    pub fn busy(&self) -> bool {
        self.pending != Pending::Nothing
    }

    /// Acts on a click. Returns whether it changes the picture (up/down do nothing for an
    /// unconditional model; left/right are ignored while a walk is running).
    pub fn press(&mut self, button: Button) -> bool {
        let conditional = self.model.num_classes() > 0;
        match button {
            Button::Select => {
                self.seed = self.seed.wrapping_add(1);
                self.counter = None;
                self.pending = Pending::Redraw;
            }
            Button::Left | Button::Right => {
                if matches!(self.pending, Pending::Walk { .. }) {
                    return false;
                }
                self.counter = None;
                let to = if button == Button::Right {
                    self.seed.wrapping_add(1)
                } else {
                    self.seed.wrapping_sub(1)
                };
                self.pending = Pending::Walk { to, step: 1 };
            }
            Button::Up | Button::Down if conditional => {
                let value = self.counter.unwrap_or(0);
                self.counter = Some(match button {
                    Button::Up if value == COUNTER_MAX => 0,
                    Button::Up => value + 1,
                    _ if value == 0 => COUNTER_MAX,
                    _ => value - 1,
                });
                // Fresh samples for every number.
                self.seed = self.seed.wrapping_add(1);
                self.pending = Pending::Redraw;
            }
            Button::Up | Button::Down => return false,
        }
        true
    }

    /// Draws the next pending frame into `target` and returns what it was, or `None` when the
    /// picture is up to date. `clock` returns a monotonic tick count; it times the generator.
    pub fn next_frame<D>(
        &mut self,
        target: &mut D,
        clock: &mut impl FnMut() -> u64,
    ) -> Option<Result<Frame, Error>>
    where
        D: DrawTarget<Color = Gray4>,
    {
        let mut frame = Frame {
            view: View::Grid { seed: self.seed },
            digits: 0,
            generate_ticks: 0,
        };
        let result = match self.pending {
            Pending::Nothing => return None,
            Pending::Redraw => {
                self.pending = Pending::Nothing;
                match self.counter {
                    None => self.draw_grid(target, clock, self.seed, None, &mut frame),
                    Some(value) => {
                        frame.view = View::Counter {
                            value,
                            seed: self.seed,
                        };
                        self.draw_counter(target, clock, value, &mut frame)
                    }
                }
            }
            Pending::Walk { to, step } if step >= WALK_STEPS => {
                self.pending = Pending::Nothing;
                self.seed = to;
                frame.view = View::Grid { seed: to };
                self.draw_grid(target, clock, to, None, &mut frame)
            }
            Pending::Walk { to, step } => {
                self.pending = Pending::Walk { to, step: step + 1 };
                frame.view = View::Walk {
                    from: self.seed,
                    to,
                    step,
                };
                let t = step as f32 / WALK_STEPS as f32;
                self.draw_grid(target, clock, self.seed, Some((to, t)), &mut frame)
            }
        };
        Some(result.map(|()| frame))
    }

    /// Draws the 8 digits of batch `seed`, or of the point `t` of the way to batch `to`.
    fn draw_grid<D: DrawTarget<Color = Gray4>>(
        &mut self,
        target: &mut D,
        clock: &mut impl FnMut() -> u64,
        seed: u64,
        walk: Option<(u64, f32)>,
        frame: &mut Frame,
    ) -> Result<(), Error> {
        // The frame is drawn off screen (boards flush after it): clearing first does not flicker.
        target.clear(Gray4::BLACK).ok();
        let classes = self.model.num_classes();
        for index in 0..layout::CELLS {
            let label = (classes > 0).then(|| (index % classes as u32) as u8);
            let mut z = [0f32; MAX_Z];
            let start = clock();
            let z = &mut z[..self.model.z_dim()];
            runtime_nostd::latent(seed, index, z);
            if let Some((to, t)) = walk {
                let mut b = [0f32; MAX_Z];
                let b = &mut b[..z.len()];
                runtime_nostd::latent(to, index, b);
                let norm = F32Ext::sqrt((1.0 - t) * (1.0 - t) + t * t);
                for (a, b) in z.iter_mut().zip(b.iter()) {
                    *a = ((1.0 - t) * *a + t * *b) / norm;
                }
            }
            self.digit(
                target,
                clock,
                start,
                z,
                label,
                layout::cell_origin(index),
                frame,
            )?;
        }
        Ok(())
    }

    /// Clears the screen and writes `value` with generated digits.
    fn draw_counter<D: DrawTarget<Color = Gray4>>(
        &mut self,
        target: &mut D,
        clock: &mut impl FnMut() -> u64,
        value: u16,
        frame: &mut Frame,
    ) -> Result<(), Error> {
        target.clear(Gray4::BLACK).ok();
        let mut rest = value;
        for position in (0..layout::COLUMNS).rev() {
            if rest == 0 && position != layout::COLUMNS - 1 {
                break; // no leading zeros
            }
            let digit = (rest % 10) as u8;
            rest /= 10;
            let mut z = [0f32; MAX_Z];
            let start = clock();
            let z = &mut z[..self.model.z_dim()];
            runtime_nostd::latent(self.seed, position, z);
            let label = Some(digit % self.model.num_classes() as u8);
            let origin = layout::counter_origin(position);
            self.digit(target, clock, start, z, label, origin, frame)?;
        }
        Ok(())
    }

    /// Generates one digit from `z` and draws it at `origin`.
    #[allow(clippy::too_many_arguments)]
    fn digit<D: DrawTarget<Color = Gray4>>(
        &mut self,
        target: &mut D,
        clock: &mut impl FnMut() -> u64,
        start: u64,
        z: &[f32],
        label: Option<u8>,
        origin: Point,
        frame: &mut Frame,
    ) -> Result<(), Error> {
        let mut pixels = [0u8; DIGIT_PIXELS];
        self.model.generate(z, label, self.scratch, &mut pixels)?;
        frame.generate_ticks += clock().wrapping_sub(start);
        frame.digits += 1;
        draw_digit(target, origin, &pixels).ok();
        Ok(())
    }
}

/// Draws a 28×28 generator output (row-major, one byte a pixel) at `origin`, each pixel `v` as
/// grey level `runtime_nostd::gray4(v)`.
///
/// ```
/// use embedded_graphics::{mock_display::MockDisplay, pixelcolor::Gray4, prelude::*};
/// let mut display = MockDisplay::<Gray4>::new();
/// display.set_allow_overdraw(true);
/// tinygan_fw::draw_digit(&mut display, Point::zero(), &[255; 784]).unwrap();
/// assert_eq!(display.get_pixel(Point::new(27, 27)), Some(Gray4::WHITE));
/// ```
pub fn draw_digit<D: DrawTarget<Color = Gray4>>(
    target: &mut D,
    origin: Point,
    pixels: &[u8; DIGIT_PIXELS],
) -> Result<(), D::Error> {
    target.fill_contiguous(
        &Rectangle::new(origin, Size::new(layout::DIGIT, layout::DIGIT)),
        pixels.iter().map(|&v| Gray4::new(runtime_nostd::gray4(v))),
    )
}

/// The first line of the error screen.
pub const ERROR_TITLE: &str = "tinygan: no digits";

/// Characters per line of the error screen (6-pixel-wide font on 128 pixels, 2-pixel margin).
pub const ERROR_LINE_CHARS: usize = 21;

/// Clears the display and explains in text why there are no digits: [`ERROR_TITLE`] on the first
/// line, then `error` word-wrapped on up to four lines of [`ERROR_LINE_CHARS`] (the 6×10 font,
/// white on black, lines 12 pixels apart from (2, 2)).
///
/// ```
/// use embedded_graphics::{mock_display::MockDisplay, pixelcolor::Gray4, prelude::*};
/// let mut display = MockDisplay::<Gray4>::new();
/// display.set_allow_out_of_bounds_drawing(true);
/// display.set_allow_overdraw(true);
/// tinygan_fw::draw_error(&mut display, &"CRC-32 mismatch").unwrap();
/// assert_eq!(display.get_pixel(Point::new(63, 63)), Some(Gray4::BLACK));
/// ```
pub fn draw_error<D, E>(target: &mut D, error: &E) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Gray4>,
    E: core::fmt::Display + ?Sized,
{
    target.clear(Gray4::BLACK)?;
    let style = MonoTextStyle::new(&FONT_6X10, Gray4::WHITE);
    let mut text = heapless::String::<128>::new();
    // Longer messages are cut off.
    let _ = write!(text, "{error}");
    let mut y = 2;
    let mut line = |s: &str, target: &mut D| {
        let r = Text::with_baseline(s, Point::new(2, y), style, Baseline::Top).draw(target);
        y += 12;
        r.map(|_| ())
    };
    line(ERROR_TITLE, target)?;
    for row in wrap(&text, ERROR_LINE_CHARS).take(4) {
        line(row, target)?;
    }
    Ok(())
}

/// Greedy word wrap: lines of at most `width` bytes, broken at spaces where possible.
fn wrap(text: &str, width: usize) -> impl Iterator<Item = &str> {
    let mut rest = text.trim();
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(width);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end < rest.len()
            && !rest[end..].starts_with(' ')
            && let Some(space) = rest[..end].rfind(' ').filter(|&i| i > 0)
        {
            end = space;
        }
        let (line, tail) = rest.split_at(end);
        rest = tail.trim_start();
        Some(line.trim_end())
    })
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Blob(e) => write!(f, "blob rejected: {e}"),
            Error::Run(e) => write!(f, "generator failed: {e}"),
            Error::LatentTooLong(n) => write!(f, "latent of {n} values is longer than {MAX_Z}"),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::{boxed::Box, vec::Vec};

    use embedded_graphics::{Pixel, pixelcolor::Gray4, prelude::*};

    use super::*;

    /// A 128×64 grey canvas.
    struct Canvas(Box<[[u8; 128]; 64]>);
    impl OriginDimensions for Canvas {
        fn size(&self) -> Size {
            Size::new(128, 64)
        }
    }
    impl DrawTarget for Canvas {
        type Color = Gray4;
        type Error = core::convert::Infallible;
        fn draw_iter<I: IntoIterator<Item = Pixel<Gray4>>>(
            &mut self,
            it: I,
        ) -> Result<(), Self::Error> {
            for Pixel(p, c) in it {
                self.0[p.y as usize][p.x as usize] = c.luma();
            }
            Ok(())
        }
    }

    fn frames(app: &mut App<'_>, canvas: &mut Canvas) -> Vec<Frame> {
        let mut ticks = 0;
        let mut clock = || {
            ticks += 1;
            ticks
        };
        core::iter::from_fn(|| app.next_frame(canvas, &mut clock))
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn buttons_drive_the_views() {
        let mut scratch = Box::new(Scratch::new());
        let mut app = App::new(blob::BLOB, &mut scratch).expect("the embedded blob parses");
        let mut canvas = Canvas(Box::new([[0; 128]; 64]));
        let boot = frames(&mut app, &mut canvas);
        assert_eq!(boot.len(), 1);
        assert_eq!((boot[0].view, boot[0].digits), (View::Grid { seed: 0 }, 8));
        assert!(boot[0].generate_ticks >= 8);
        let seed0 = canvas.0.clone();

        assert!(app.press(Button::Select));
        assert_eq!(
            frames(&mut app, &mut canvas)[0].view,
            View::Grid { seed: 1 }
        );
        let seed1 = canvas.0.clone();
        assert_ne!(seed0, seed1);

        // A walk left: WALK_STEPS frames, the last exactly the grid of seed 0.
        assert!(app.press(Button::Left));
        let walk = frames(&mut app, &mut canvas);
        assert_eq!(walk.len(), WALK_STEPS as usize);
        assert_eq!(
            walk[0].view,
            View::Walk {
                from: 1,
                to: 0,
                step: 1
            }
        );
        assert_eq!(walk.last().unwrap().view, View::Grid { seed: 0 });
        assert_eq!(canvas.0, seed0);

        // Up/down need a conditional model.
        let conditional = app.model().num_classes() > 0;
        assert_eq!(app.press(Button::Up), conditional);
        assert!(!app.busy() || conditional);
    }

    #[test]
    fn wrap_breaks_at_spaces() {
        let lines: Vec<_> =
            super::wrap("blob rejected: CRC-32 mismatch: header says 0x12345678", 21).collect();
        assert_eq!(
            lines,
            [
                "blob rejected: CRC-32",
                "mismatch: header says",
                "0x12345678"
            ]
        );
        let lines: Vec<_> = super::wrap("abcdefghijklmnopqrstuvwxyz", 21).collect();
        assert_eq!(lines, ["abcdefghijklmnopqrstu", "vwxyz"]);
    }
}

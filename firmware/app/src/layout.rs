//! Where things go on the 128×64 display.
//!
//! The grid view shows 4 columns × 2 rows of 28×28 digits. 4 × 28 = 112 of 128 columns and
//! 2 × 28 = 56 of 64 rows are used; the rest is spread evenly: a 2-pixel margin on every side and a
//! 4-pixel gap between cells, so cell `(col, row)` starts at `(2 + 32 col, 2 + 32 row)`:
//!
//! ```text
//!  x:  2..30   34..62   66..94   98..126
//!  y:  2..30   cells 0 1 2 3
//!  y: 34..62   cells 4 5 6 7
//! ```
//!
//! The counter view writes up to four digits, right-aligned, in the same four columns, on one row
//! centred vertically (y = 18..46).

use embedded_graphics::prelude::{Point, Size};

/// Display size the layout is made for.
pub const DISPLAY: Size = Size::new(128, 64);
/// Side of a digit in pixels (MNIST).
pub const DIGIT: u32 = 28;
/// Columns of the grid.
pub const COLUMNS: u32 = 4;
/// Rows of the grid.
pub const ROWS: u32 = 2;
/// Digits drawn per batch (one per cell).
pub const CELLS: u32 = COLUMNS * ROWS;
/// Distance between the origins of neighbouring cells.
pub const PITCH: i32 = 32;
/// Margin around the grid.
pub const MARGIN: i32 = 2;
/// Top row of the counter view.
pub const COUNTER_Y: i32 = (DISPLAY.height - DIGIT) as i32 / 2;

/// Top-left corner of grid cell `index` (0..[`CELLS`], row-major).
///
/// ```
/// use embedded_graphics::prelude::Point;
/// assert_eq!(tinygan_fw::layout::cell_origin(0), Point::new(2, 2));
/// assert_eq!(tinygan_fw::layout::cell_origin(7), Point::new(98, 34));
/// ```
pub const fn cell_origin(index: u32) -> Point {
    Point::new(
        MARGIN + PITCH * (index % COLUMNS) as i32,
        MARGIN + PITCH * (index / COLUMNS) as i32,
    )
}

/// Top-left corner of counter digit `position` (0 = leftmost of four).
///
/// ```
/// use embedded_graphics::prelude::Point;
/// assert_eq!(tinygan_fw::layout::counter_origin(3), Point::new(98, 18));
/// ```
pub const fn counter_origin(position: u32) -> Point {
    Point::new(MARGIN + PITCH * position as i32, COUNTER_Y)
}

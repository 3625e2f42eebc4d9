//! The five buttons: sampled levels turned into clicks, one per release edge (no debouncing: a
//! bouncing contact may click more than once).

/// A button of the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// Draw a new batch (the next seed).
    Select,
    /// Counter up (conditional models).
    Up,
    /// Counter down (conditional models).
    Down,
    /// Walk through latent space to the previous seed.
    Left,
    /// Walk through latent space to the next seed.
    Right,
}

impl Button {
    /// All buttons, in the bit order of [`Buttons::update`]'s `released` mask.
    pub const ALL: [Button; 5] = [
        Button::Select,
        Button::Up,
        Button::Down,
        Button::Left,
        Button::Right,
    ];
}

/// Turns sampled button levels into clicks.
///
/// A click is reported when a button is **released** (its line goes from pressed to released), not
/// when it is pressed: QEMU's LM3S6965 board reads every button as pressed until that button's
/// first release, so a press edge would miss the first click there. On real boards it only means a
/// click acts when the finger lifts.
///
/// ```
/// use tinygan_fw::buttons::{Button, Buttons};
/// let mut buttons = Buttons::new();
/// assert_eq!(buttons.update(0b00000), None); // pressed (or unknown) at boot: nothing
/// assert_eq!(buttons.update(0b00001), Some(Button::Select)); // select released: a click
/// assert_eq!(buttons.update(0b00001), None);
/// ```
#[derive(Debug, Default)]
pub struct Buttons {
    last_released: u8,
}

impl Buttons {
    /// No button seen released yet.
    pub const fn new() -> Self {
        Self { last_released: 0 }
    }

    /// Feeds one sample: bit `i` of `released` is 1 when [`Button::ALL`]`[i]` is not pressed.
    /// Returns the first button (in [`Button::ALL`] order) that was released since the last sample.
    pub fn update(&mut self, released: u8) -> Option<Button> {
        let clicked = released & !self.last_released;
        self.last_released = released;
        Button::ALL
            .iter()
            .enumerate()
            .find(|(i, _)| clicked & (1 << i) != 0)
            .map(|(_, &b)| b)
    }
}

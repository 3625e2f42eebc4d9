//! Deterministic random numbers for the device: [`Rng`] and [`latent`].

use crate::math::{ln, sin_cos_turns, sqrt};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small deterministic PRNG (SplitMix64: 8 bytes of state, one add and a mix per draw). The
/// same seed gives the same sequence on every platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// Next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `[0, 1)`, a multiple of 2^-24.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform integer in `0..n` (0 when `n == 0`), by multiply-shift.
    pub fn below(&mut self, n: u32) -> u32 {
        ((self.next_u32() as u64 * n as u64) >> 32) as u32
    }

    /// Two independent standard-normal values (Box–Muller with this crate's f32 `ln`, `sqrt` and
    /// `sin_cos`, accurate to about 1e-7 and bit-identical on every IEEE-754 target).
    pub fn normal_pair(&mut self) -> (f32, f32) {
        let u1 = 1.0 - self.next_f32(); // (0, 1]
        let u2 = self.next_f32();
        let r = sqrt(-2.0 * ln(u1));
        let (s, c) = sin_cos_turns(u2);
        (r * c, r * s)
    }

    /// One standard-normal value (draws a pair, keeps the first).
    pub fn normal(&mut self) -> f32 {
        self.normal_pair().0
    }
}

/// Fills `z` with standard-normal values that depend only on `(seed, index)`: digit `i` of a
/// batch drawn with seed `s` uses `latent(s, i, z)`. Pure, deterministic, identical on host and
/// device.
pub fn latent(seed: u64, index: u32, z: &mut [f32]) {
    let mut rng = Rng::new(mix64(
        seed ^ mix64((index as u64).wrapping_add(1).wrapping_mul(GOLDEN)),
    ));
    for pair in z.chunks_mut(2) {
        let (a, b) = rng.normal_pair();
        pair[0] = a;
        if let Some(second) = pair.get_mut(1) {
            *second = b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latent_is_deterministic_and_normalish() {
        let mut a = [0.0f32; 100];
        let mut b = [0.0f32; 100];
        latent(7, 3, &mut a);
        latent(7, 3, &mut b);
        assert_eq!(a, b);
        latent(7, 4, &mut b);
        assert_ne!(a, b);
        latent(8, 3, &mut b);
        assert_ne!(a, b);
        let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..200 {
            latent(1, i, &mut a);
            for &v in &a {
                assert!(v.is_finite());
                sum += v as f64;
                sq += (v as f64) * (v as f64);
                n += 1.0;
            }
        }
        let mean = sum / n;
        let var = sq / n - mean * mean;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }

    #[test]
    fn rng_ranges() {
        let mut r = Rng::new(1);
        for _ in 0..1000 {
            let f = r.next_f32();
            assert!((0.0..1.0).contains(&f));
            assert!(r.below(10) < 10);
        }
        assert_eq!(r.below(0), 0);
    }
}

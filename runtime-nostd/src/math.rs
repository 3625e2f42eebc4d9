//! Scalar arithmetic shared by the forward pass, the exporter and the tests.

/// `2^e` as an f32, exact for `-126 <= e <= 127` (the parser keeps exponents in that range).
#[inline(always)]
pub fn pow2(e: i32) -> f32 {
    f32::from_bits(((e.clamp(-126, 127) + 127) as u32) << 23)
}

/// `clamp(round_half_to_even(v), -128, 127)`: ONNX `QuantizeLinear` to int8 of an already scaled
/// value. NaN maps to 0.
#[inline(always)]
pub fn quantize_i8(v: f32) -> i8 {
    // 1.5 · 2^23: adding and subtracting it rounds to an integer with the current (IEEE default,
    // ties-to-even) rounding mode for |v| <= 2^22; the clamp keeps |v| small.
    const MAGIC: f32 = 12_582_912.0;
    let c = v.clamp(-128.0, 127.0);
    if c.is_nan() {
        return 0;
    }
    ((c + MAGIC) - MAGIC) as i8
}

/// `e^x` in f32, relative error below 2e-7 on the range used by [`pixel_from_preactivation`]
/// (`|x| <= 88`). Pure f32 arithmetic, so host and Cortex-M give identical results.
pub fn exp(x: f32) -> f32 {
    if x > 88.0 {
        return f32::INFINITY;
    }
    if x < -87.0 {
        return 0.0;
    }
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    // ln 2 split so that n · LN2_HI is exact.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let n = quantize_n(x * LOG2E);
    let nf = n as f32;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    // Taylor to degree 7 on |r| <= 0.35: truncation error < 2e-8.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * pow2(n)
}

fn quantize_n(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    ((v + MAGIC) - MAGIC) as i32
}

/// `tanh(x)` in f32 (absolute error about 1e-7), from [`exp`].
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    if x < 0.0 { -t } else { t }
}

/// Natural logarithm of a positive finite `x` (relative error about 1e-7; 0 or negative gives
/// `-inf`). Pure f32 arithmetic: identical on every IEEE-754 target.
pub fn ln(x: f32) -> f32 {
    if x <= 0.0 || x.is_nan() {
        return f32::NEG_INFINITY;
    }
    let mut bits = x.to_bits();
    let mut k = 0i32;
    if bits < 0x0080_0000 {
        // Subnormal: scale into the normal range.
        bits = (x * 16_777_216.0).to_bits();
        k -= 24;
    }
    k += ((bits >> 23) as i32) - 127;
    // Mantissa m in [1, 2), then moved to [sqrt(1/2), sqrt(2)).
    let mut m = f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000);
    if m > core::f32::consts::SQRT_2 {
        m *= 0.5;
        k += 1;
    }
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series =
        2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 / 9.0))));
    series + k as f32 * core::f32::consts::LN_2
}

/// Square root of a non-negative finite `x` (bit estimate refined by Newton steps; correct to
/// within an ulp or two). Negative input gives 0.
pub fn sqrt(x: f32) -> f32 {
    if x <= 0.0 || x.is_nan() {
        return 0.0;
    }
    if x.is_infinite() {
        return x;
    }
    let mut y = f32::from_bits((x.to_bits() >> 1) + 0x1FC0_0000);
    for _ in 0..4 {
        y = 0.5 * (y + x / y);
    }
    y
}

/// `(sin, cos)` of the angle `2π · t` for `t` in turns (any finite `t`; absolute error about 1e-7).
pub fn sin_cos_turns(t: f32) -> (f32, f32) {
    let t = t - floor(t); // [0, 1)
    let q4 = t * 4.0;
    let q = floor(q4);
    let phi = (q4 - q) * core::f32::consts::FRAC_PI_2; // [0, π/2)
    let p2 = phi * phi;
    let s = phi
        * (1.0
            - p2 / 6.0
                * (1.0 - p2 / 20.0 * (1.0 - p2 / 42.0 * (1.0 - p2 / 72.0 * (1.0 - p2 / 110.0)))));
    let c = 1.0
        - p2 / 2.0
            * (1.0
                - p2 / 12.0
                    * (1.0
                        - p2 / 30.0 * (1.0 - p2 / 56.0 * (1.0 - p2 / 90.0 * (1.0 - p2 / 132.0)))));
    match q as i32 & 3 {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

fn floor(x: f32) -> f32 {
    if x.abs() >= 8_388_608.0 {
        return x;
    }
    let i = x as i32 as f32;
    if i > x { i - 1.0 } else { i }
}

/// The image convention: a value `t` in `[-1, 1]` becomes the pixel `round((t + 1) / 2 · 255)`
/// (halves round up), clamped to `0..=255`. 0 is background, 255 ink.
#[inline]
pub fn pixel_from_unit(t: f32) -> u8 {
    let p = (t + 1.0) * 127.5 + 0.5;
    // `as` saturates (and maps NaN to 0).
    p as u8
}

/// The last layer's output: [`pixel_from_unit`]`(tanh(v))` for a pre-activation value `v`,
/// computed as `255 / (1 + e^(-2v))` (the same number, one exp).
#[inline]
pub fn pixel_from_preactivation(v: f32) -> u8 {
    let p = 255.0 / (1.0 + exp(-2.0 * v)) + 0.5;
    p as u8
}

/// Maps a pixel to one of 16 grey levels (`0..=15`, evenly: `round(v · 15 / 255)`), for 4-bit
/// displays such as the SSD0323 OLED.
#[inline]
pub fn gray4(v: u8) -> u8 {
    ((v as u16 * 15 + 127) / 255) as u8
}

/// One requantized activation: `clamp(round_half_even(act(acc · 2^e)), -128, 127)`, the
/// arithmetic of [`crate::format`], in integers where it is exact (identity, ReLU, and LeakyReLU's
/// non-negative side: a shift with round-half-to-even), and in f32 only for LeakyReLU's
/// `v · alpha` (whose f32 rounding is part of the definition).
#[inline(always)]
pub fn requantize(acc: i32, e: i32, act: crate::format::Activation, alpha: f32) -> i8 {
    use crate::format::Activation;
    match act {
        Activation::Relu if acc <= 0 => 0,
        Activation::LeakyRelu if acc < 0 => quantize_i8(acc as f32 * pow2(e) * alpha),
        _ => shift_round_i8(acc, e),
    }
}

/// `clamp(round_half_even(acc · 2^e), -128, 127)` in integers.
#[inline(always)]
pub fn shift_round_i8(acc: i32, e: i32) -> i8 {
    let q = if e >= 0 {
        if e >= 8 { acc.signum() * 128 } else { acc << e }
    } else {
        let n = -e;
        if n >= 31 {
            // |acc| < 2^24 (checked at load): |acc · 2^e| < 1/2.
            0
        } else {
            // Adding `half - 1` plus the lowest kept bit rounds halves to even (no overflow:
            // |acc| < 2^24, n <= 30).
            (acc + (1 << (n - 1)) - 1 + ((acc >> n) & 1)) >> n
        }
    };
    q.clamp(-128, 127) as i8
}

/// [`requantize`] with ReLU when `e = -n`, `1 <= n <= 30`: the rounding shift of
/// [`shift_round_i8`] without branches, clamped to `0..=127` (a non-positive `acc` rounds to a
/// non-positive value, so the clamp is ReLU's 0).
#[inline(always)]
pub fn shift_round_relu(acc: i32, n: i32) -> i8 {
    let q = (acc + (1 << (n - 1)) - 1 + ((acc >> n) & 1)) >> n;
    q.clamp(0, 127) as i8
}

/// The last layer's output pixels as a function of the integer accumulator: `thresholds[k]` is the
/// smallest `acc` with [`pixel_from_preactivation`]`(acc · 2^e) > k`, found by bisection when the
/// blob is loaded, so a pixel is a binary search (8 integer compares) instead of an f32 `exp`.
/// Exact because the pixel is a non-decreasing function of `acc` (tested on a dense grid).
#[derive(Clone, Debug)]
pub struct PixelTable {
    /// 255 thresholds and an `i32::MAX` sentinel (so the search indexes with `& 255`, no bounds
    /// check).
    thresholds: [i32; 256],
}

impl PixelTable {
    /// A placeholder until [`rebuild`](Self::rebuild) builds the real table; never searched
    /// before that. All zeros, so a `static` holding it (the firmware's [`crate::Scratch`]) goes to
    /// `.bss` and costs no flash (with a non-zero sentinel here it took 5.7 KB of flash as `.data`).
    pub const EMPTY: Self = Self {
        thresholds: [0; 256],
    };

    /// The table for requantization exponent `e`.
    pub fn new(e: i32) -> Self {
        let mut table = Self::EMPTY;
        table.rebuild(e);
        table
    }

    /// Rebuilds the table for exponent `e` in place: no 1 KB temporary on the caller's stack
    /// (which would stay in its frame, and in the peak stack, for good).
    #[inline(never)]
    #[cold]
    pub fn rebuild(&mut self, e: i32) {
        let scale = pow2(e);
        let pixel = |acc: i32| pixel_from_preactivation(acc as f32 * scale);
        // Beyond |v| = 8 the pixel is saturated; |acc| < 2^24 anyway.
        let reach = if e >= 3 {
            1
        } else {
            (1i64 << (3 - e).min(24)) as i32
        };
        let mut lo_bound = -reach;
        for (k, t) in self.thresholds[..255].iter_mut().enumerate() {
            // Smallest acc in [lo_bound, reach] with pixel(acc) > k (reach + 1 if none).
            let (mut lo, mut hi) = (lo_bound, reach + 1);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if pixel(mid) as usize > k {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            *t = lo;
            lo_bound = lo;
        }
        self.thresholds[255] = i32::MAX;
    }

    /// The pixel of accumulator `acc`: how many thresholds are `<= acc`.
    #[inline(always)]
    pub fn pixel(&self, acc: i32) -> u8 {
        let t = &self.thresholds;
        // Most pixels are background or full ink: two compares.
        if acc < t[0] {
            return 0;
        }
        if acc >= t[254] {
            return 255;
        }
        // Binary search over the 256 entries (the sentinel is never `<= acc`).
        let mut base = 0usize;
        for half in [128, 64, 32, 16, 8, 4, 2, 1] {
            if t[(base + half - 1) & 255] <= acc {
                base += half;
            }
        }
        base as u8
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn quantize_rounds_half_to_even_and_saturates() {
        assert_eq!(quantize_i8(0.5), 0);
        assert_eq!(quantize_i8(1.5), 2);
        assert_eq!(quantize_i8(2.5), 2);
        assert_eq!(quantize_i8(-0.5), 0);
        assert_eq!(quantize_i8(-1.5), -2);
        assert_eq!(quantize_i8(-2.5), -2);
        assert_eq!(quantize_i8(126.6), 127);
        assert_eq!(quantize_i8(1e30), 127);
        assert_eq!(quantize_i8(-1e30), -128);
        assert_eq!(quantize_i8(f32::NAN), 0);
    }

    #[test]
    fn pow2_is_exact() {
        assert_eq!(pow2(0), 1.0);
        assert_eq!(pow2(-3), 0.125);
        assert_eq!(pow2(10), 1024.0);
    }

    #[test]
    fn exp_and_tanh_are_accurate() {
        let mut x = -20.0f32;
        while x < 20.0 {
            let e = exp(x) as f64;
            let want = (x as f64).exp();
            assert!(
                ((e - want) / want).abs() < 5e-7,
                "exp({x}) = {e}, want {want}"
            );
            let t = tanh(x) as f64;
            assert!((t - (x as f64).tanh()).abs() < 3e-7, "tanh({x})");
            x += 0.01;
        }
    }

    #[test]
    fn ln_sqrt_sincos_are_accurate() {
        let mut x = 1e-7f32;
        while x < 1e4 {
            let l = ln(x) as f64;
            assert!(
                (l - (x as f64).ln()).abs() < 2e-6 * (x as f64).ln().abs().max(1.0),
                "ln({x})"
            );
            let r = sqrt(x) as f64;
            assert!(((r - (x as f64).sqrt()) / r).abs() < 3e-7, "sqrt({x})");
            x *= 1.37;
        }
        assert_eq!(ln(1.0), 0.0);
        for i in -1000..1000 {
            let t = i as f32 / 397.0;
            let (s, c) = sin_cos_turns(t);
            let a = std::f64::consts::TAU * t as f64;
            assert!((s as f64 - a.sin()).abs() < 5e-7, "sin {t}");
            assert!((c as f64 - a.cos()).abs() < 5e-7, "cos {t}");
        }
    }

    #[test]
    fn integer_requantization_matches_f32() {
        use crate::format::Activation;
        let mut x = 0x1234_5678u32;
        for i in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let acc = (x as i32) >> (8 + i % 20);
            let e = i % 40 - 30;
            let v = acc as f32 * pow2(e);
            assert_eq!(shift_round_i8(acc, e), quantize_i8(v), "{acc} 2^{e}");
            let relu = quantize_i8(if v < 0.0 { 0.0 } else { v });
            assert_eq!(requantize(acc, e, Activation::Relu, 0.0), relu);
            if (-30..=-1).contains(&e) {
                assert_eq!(shift_round_relu(acc, -e), relu, "{acc} 2^{e}");
            }
            let leaky = quantize_i8(if v < 0.0 { v * 0.2 } else { v });
            assert_eq!(requantize(acc, e, Activation::LeakyRelu, 0.2), leaky);
        }
    }

    #[test]
    fn pixel_is_monotonic_and_the_table_exact() {
        // Non-decreasing on a fine grid of the unsaturated range...
        let mut prev = 0u8;
        for k in -(5 << 18)..(5 << 18) {
            let p = pixel_from_preactivation(k as f32 / (1 << 18) as f32);
            assert!(p >= prev, "pixel not monotonic at {k}");
            prev = p;
        }
        // ...and the table equals the f32 function.
        for e in [-16, -12, -9, -7, -4, -1, 0, 2] {
            let table = PixelTable::new(e);
            let step = if e < -12 { 37 } else { 1 };
            let reach = 1i32 << (4 - e).min(24);
            let mut acc = -reach;
            while acc <= reach {
                let want = pixel_from_preactivation(acc as f32 * pow2(e));
                assert_eq!(table.pixel(acc), want, "acc {acc} e {e}");
                acc += step;
            }
            assert_eq!(table.pixel(i32::MIN / 2), 0);
            assert_eq!(table.pixel(i32::MAX / 2), 255);
        }
    }

    #[test]
    fn pixels() {
        assert_eq!(pixel_from_unit(-1.0), 0);
        assert_eq!(pixel_from_unit(1.0), 255);
        assert_eq!(pixel_from_unit(0.0), 128);
        assert_eq!(pixel_from_preactivation(-50.0), 0);
        assert_eq!(pixel_from_preactivation(50.0), 255);
        assert_eq!(pixel_from_preactivation(0.0), 128);
        for i in -400..400 {
            let v = i as f32 / 100.0;
            let a = pixel_from_preactivation(v) as i32;
            let b = pixel_from_unit(tanh(v)) as i32;
            assert!((a - b).abs() <= 1);
        }
        assert_eq!(gray4(0), 0);
        assert_eq!(gray4(255), 15);
        assert_eq!(gray4(128), 8);
    }
}

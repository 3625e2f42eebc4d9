//! `gaussians8`, the 2-D toy dataset (a ring of 8 Gaussians), and its mode-coverage metric.

use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Radius of the `gaussians8` ring.
pub const GAUSSIANS8_RADIUS: f32 = 2.0;
/// Standard deviation of each `gaussians8` mode (isotropic).
pub const GAUSSIANS8_STD: f32 = 0.02;
/// A generated point counts for mode *k* when it lies within this distance of center *k*
/// (`0.25` = 12.5 σ of the data noise; neighbouring centers are `2·2·sin(22.5°) ≈ 1.53` apart, so
/// no point counts for two modes, and a point half-way between two modes counts for none).
pub const GAUSSIANS8_MODE_RADIUS: f32 = 0.25;

/// The 8 mode centers of `gaussians8`: `2·(cos(k·45°), sin(k·45°))` for `k = 0..8`.
pub fn gaussians8_centers() -> [[f32; 2]; 8] {
    std::array::from_fn(|k| {
        let angle = k as f32 * std::f32::consts::FRAC_PI_4;
        [
            GAUSSIANS8_RADIUS * angle.cos(),
            GAUSSIANS8_RADIUS * angle.sin(),
        ]
    })
}

/// Draws `n` points of the `gaussians8` toy dataset, returned as `n × 2` values `x0, y0, x1, …`.
///
/// This is the standard WGAN-GP toy setup (Gulrajani et al. 2017): a mixture of 8 equally likely
/// isotropic Gaussians, standard deviation [`GAUSSIANS8_STD`] (0.02), centred on a ring of radius
/// [`GAUSSIANS8_RADIUS`] (2) at multiples of 45° (see [`gaussians8_centers`]). Unlike the
/// reference code, the points are not divided by 1.414 afterwards.
pub fn gaussians8_sample(rng: &mut impl Rng, n: usize) -> Vec<f32> {
    let centers = gaussians8_centers();
    let noise = Normal::new(0.0f32, GAUSSIANS8_STD).expect("valid normal distribution");
    let mut out = Vec::with_capacity(n * 2);
    for _ in 0..n {
        let [cx, cy] = centers[rng.random_range(0..8)];
        out.push(cx + noise.sample(rng));
        out.push(cy + noise.sample(rng));
    }
    out
}

/// Mode coverage of a set of generated `gaussians8` points (see [`gaussians8_coverage`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModeCoverage {
    /// Modes holding at least `min_share` of the points.
    pub modes_covered: usize,
    /// Points within [`GAUSSIANS8_MODE_RADIUS`] (or the given radius) of each center.
    pub per_mode: [usize; 8],
    /// Share of all points that lie near some mode ("high-quality" samples), in `[0, 1]`
    /// (0 for no points).
    pub high_quality_share: f32,
    /// Number of points evaluated.
    pub total: usize,
}

/// Mode coverage of generated points (`n × 2`, as from [`gaussians8_sample`]): a point counts for
/// mode *k* if it lies within `max_dist` of center *k*; a mode is covered if it holds at least
/// `min_share` (e.g. `0.02` = 2 %) of all points. Non-finite points count for no mode. A trailing
/// odd value is ignored.
pub fn gaussians8_coverage(points: &[f32], min_share: f32, max_dist: f32) -> ModeCoverage {
    let centers = gaussians8_centers();
    let mut per_mode = [0usize; 8];
    let total = points.len() / 2;
    for p in points.chunks_exact(2) {
        let (x, y) = (p[0], p[1]);
        for (k, [cx, cy]) in centers.iter().enumerate() {
            if ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() < max_dist {
                per_mode[k] += 1;
                break;
            }
        }
    }
    let near: usize = per_mode.iter().sum();
    let modes_covered = if total == 0 {
        0
    } else {
        per_mode
            .iter()
            .filter(|&&c| c as f32 >= min_share * total as f32 && c > 0)
            .count()
    };
    ModeCoverage {
        modes_covered,
        per_mode,
        high_quality_share: if total == 0 {
            0.0
        } else {
            near as f32 / total as f32
        },
        total,
    }
}

/// Modes covered by generated points (`n × 2`) and the points counted for each mode, using
/// [`GAUSSIANS8_MODE_RADIUS`]: see [`gaussians8_coverage`] (which also gives the high-quality
/// share).
pub fn gaussians8_modes_covered(points: &[f32], min_share: f32) -> (usize, [usize; 8]) {
    let c = gaussians8_coverage(points, min_share, GAUSSIANS8_MODE_RADIUS);
    (c.modes_covered, c.per_mode)
}

/// Share of generated points (`n × 2`) within [`GAUSSIANS8_MODE_RADIUS`] of some mode center.
pub fn gaussians8_high_quality_share(points: &[f32]) -> f32 {
    gaussians8_coverage(points, 0.0, GAUSSIANS8_MODE_RADIUS).high_quality_share
}

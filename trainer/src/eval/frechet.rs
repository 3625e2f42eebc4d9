//! The Fréchet distance between two Gaussians fitted to feature sets, and the entropy of a class
//! histogram. Pure `f64` arithmetic, no Burn: every function here is deterministic and cheap
//! (a 128-dimensional distance takes a few milliseconds).
//!
//! For Gaussians `N(μ₁, Σ₁)` and `N(μ₂, Σ₂)` the (squared) Fréchet / 2-Wasserstein distance is
//!
//! ```text
//! d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2})
//! ```
//!
//! Both square roots are taken through symmetric eigendecompositions (cyclic Jacobi, which is
//! accurate to a few ulps on the small, well-scaled matrices used here), with eigenvalues that
//! round-off pushed below zero clamped to zero. This avoids the non-symmetric `sqrtm(Σ₁ Σ₂)` of
//! the usual FID code, which can return complex values for singular covariances.

/// Mean and covariance of a set of feature vectors, in `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianStats {
    /// Feature dimension `d`.
    pub dim: usize,
    /// Number of vectors the statistics were computed from.
    pub n: usize,
    /// Mean, `d` values.
    pub mean: Vec<f64>,
    /// Covariance (unbiased, divided by `n − 1`), `d × d` row-major, exactly symmetric.
    pub cov: Vec<f64>,
}

impl GaussianStats {
    /// Statistics of `feats`, `n × dim` row-major `f32` values (`n = feats.len() / dim`).
    ///
    /// # Panics
    /// If `dim == 0`, `feats.len()` is not a multiple of `dim`, or there are fewer than 2 vectors.
    pub fn from_features(feats: &[f32], dim: usize) -> Self {
        assert!(dim > 0, "GaussianStats: dimension must be positive");
        assert!(
            feats.len().is_multiple_of(dim),
            "GaussianStats: {} values are not a whole number of {dim}-dimensional vectors",
            feats.len()
        );
        let n = feats.len() / dim;
        assert!(
            n >= 2,
            "GaussianStats: need at least 2 vectors for a covariance, got {n}"
        );
        let mut mean = vec![0f64; dim];
        for row in feats.chunks_exact(dim) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += f64::from(x);
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        // Upper triangle of Σ (x − μ)(x − μ)ᵀ, then mirrored.
        let mut cov = vec![0f64; dim * dim];
        let mut centered = vec![0f64; dim];
        for row in feats.chunks_exact(dim) {
            for ((c, &x), &m) in centered.iter_mut().zip(row).zip(&mean) {
                *c = f64::from(x) - m;
            }
            for i in 0..dim {
                let ci = centered[i];
                if ci == 0.0 {
                    continue;
                }
                let out = &mut cov[i * dim + i..(i + 1) * dim];
                for (o, &cj) in out.iter_mut().zip(&centered[i..]) {
                    *o += ci * cj;
                }
            }
        }
        let denom = (n - 1) as f64;
        for i in 0..dim {
            for j in i..dim {
                let v = cov[i * dim + j] / denom;
                cov[i * dim + j] = v;
                cov[j * dim + i] = v;
            }
        }
        GaussianStats { dim, n, mean, cov }
    }
}

/// Eigendecomposition of a symmetric `n × n` matrix (row-major; only its symmetric part
/// `(A + Aᵀ)/2` is used) by the cyclic Jacobi method. Returns the eigenvalues and the eigenvectors
/// as the columns of an `n × n` row-major matrix `V`, so that `A = V diag(λ) Vᵀ`. Eigenvalues are
/// not sorted.
///
/// # Panics
/// If `a.len() != n * n`.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n, "symmetric_eigen: expected a {n}x{n} matrix");
    let mut m = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            m[i * n + j] = 0.5 * (a[i * n + j] + a[j * n + i]);
        }
    }
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let frob2: f64 = m.iter().map(|x| x * x).sum();
    if frob2 == 0.0 || !frob2.is_finite() {
        return ((0..n).map(|i| m[i * n + i]).collect(), v);
    }
    for _sweep in 0..100 {
        let mut off = 0f64;
        for i in 0..n {
            for j in i + 1..n {
                off += m[i * n + j] * m[i * n + j];
            }
        }
        // Off-diagonal mass negligible relative to the whole matrix: converged.
        if off <= frob2 * 1e-32 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let app = m[p * n + p];
                let aqq = m[q * n + q];
                // Tiny relative to both diagonal entries: rotating would change nothing.
                if apq.abs() < 1e-300
                    || (apq.abs() * 1e17 < app.abs() && apq.abs() * 1e17 < aqq.abs())
                {
                    m[p * n + q] = 0.0;
                    m[q * n + p] = 0.0;
                    continue;
                }
                let theta = (aqq - app) / (2.0 * apq);
                // Smaller root of t² + 2θt − 1 = 0 (|t| ≤ 1), overflow-safe for huge θ.
                let t = if theta.abs() > 1e150 {
                    0.5 / theta
                } else {
                    let s = if theta >= 0.0 { 1.0 } else { -1.0 };
                    s / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ A J, V ← V J with J the rotation in the (p, q) plane.
                for k in 0..n {
                    let akp = m[k * n + p];
                    let akq = m[k * n + q];
                    m[k * n + p] = c * akp - s * akq;
                    m[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = m[p * n + k];
                    let aqk = m[q * n + k];
                    m[p * n + k] = c * apk - s * aqk;
                    m[q * n + k] = s * apk + c * aqk;
                }
                m[p * n + q] = 0.0;
                m[q * n + p] = 0.0;
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| m[i * n + i]).collect(), v)
}

/// Square root of a symmetric positive semi-definite matrix, `V diag(√max(λ, 0)) Vᵀ`.
pub fn psd_sqrt(a: &[f64], n: usize) -> Vec<f64> {
    let (vals, vecs) = symmetric_eigen(a, n);
    let roots: Vec<f64> = vals.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let mut out = vec![0f64; n * n];
    for i in 0..n {
        for j in i..n {
            let mut s = 0.0;
            for k in 0..n {
                s += vecs[i * n + k] * roots[k] * vecs[j * n + k];
            }
            out[i * n + j] = s;
            out[j * n + i] = s;
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0f64; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            if aik == 0.0 {
                continue;
            }
            let row = &b[k * n..(k + 1) * n];
            for (o, &bkj) in out[i * n..(i + 1) * n].iter_mut().zip(row) {
                *o += aik * bkj;
            }
        }
    }
    out
}

/// Fréchet distance between two fitted Gaussians (see the module documentation). Never negative:
/// round-off below zero is clamped to 0.
///
/// # Panics
/// If the two statistics have different dimensions.
pub fn frechet_distance_stats(a: &GaussianStats, b: &GaussianStats) -> f64 {
    assert_eq!(a.dim, b.dim, "frechet_distance: feature dimensions differ");
    let d = a.dim;
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let trace = |c: &[f64]| (0..d).map(|i| c[i * d + i]).sum::<f64>();
    let s1 = psd_sqrt(&a.cov, d);
    let m = matmul(&matmul(&s1, &b.cov, d), &s1, d);
    let (vals, _) = symmetric_eigen(&m, d);
    let tr_cross: f64 = vals.iter().map(|&l| l.max(0.0).sqrt()).sum();
    (mean_term + trace(&a.cov) + trace(&b.cov) - 2.0 * tr_cross).max(0.0)
}

/// Fréchet distance between Gaussians fitted to two feature sets, each `n × dim` row-major.
///
/// # Panics
/// As [`GaussianStats::from_features`].
pub fn frechet_distance(feats_a: &[f32], feats_b: &[f32], dim: usize) -> f64 {
    frechet_distance_stats(
        &GaussianStats::from_features(feats_a, dim),
        &GaussianStats::from_features(feats_b, dim),
    )
}

/// Shannon entropy (nats) of a class histogram; 0 for an empty histogram. At most `ln 10` for ten
/// classes (uniform).
pub fn class_entropy(histogram: &[usize]) -> f64 {
    let total: usize = histogram.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let total = total as f64;
    histogram
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total;
            -p * p.ln()
        })
        .sum()
}

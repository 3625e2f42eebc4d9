//! Latents, labels and drawing samples from a generator: the one place that decides how latents
//! are drawn from a seed, which labels a batch of samples cycles through, and how a label becomes
//! a one-hot row.

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

use crate::model::Generator;

/// Samples generated per forward pass when drawing many (bounds the activations' memory).
pub const GENERATE_BATCH: usize = 256;

/// A label that is not one of the model's classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("label {label} out of range for {classes} classes")]
pub struct LabelError {
    /// The label.
    pub label: u8,
    /// The model's number of classes.
    pub classes: usize,
}

/// `count` standard-normal values from `rng`.
pub fn normal_latents(rng: &mut impl Rng, count: usize) -> Vec<f32> {
    (0..count).map(|_| rng.sample(StandardNormal)).collect()
}

/// `n × z_dim` standard-normal latents drawn from `seed` (what `tinygan sample --seed` and
/// `tinygan eval --seed` use).
pub fn seeded_latents(seed: u64, n: usize, z_dim: usize) -> Vec<f32> {
    normal_latents(&mut Pcg64::seed_from_u64(seed), n * z_dim)
}

/// Standard-normal latents for the fixed sample grid (independent of the training RNG).
pub fn fixed_noise(seed: u64, n: usize, z_dim: usize) -> Vec<f32> {
    seeded_latents(seed.wrapping_add(0x5eed_f1ed), n, z_dim)
}

/// The label of sample `i` of a batch that cycles through the classes `0, 1, …, classes − 1, 0, …`
/// (0 without classes).
pub fn cycling_label(i: usize, classes: usize) -> u8 {
    (i % classes.max(1)) as u8
}

/// [`cycling_label`] for samples `0..n`.
pub fn cycling_labels(n: usize, classes: usize) -> Vec<u8> {
    (0..n).map(|i| cycling_label(i, classes)).collect()
}

/// One-hot rows `[labels.len(), classes]`; a label `≥ classes` is a [`LabelError`].
pub fn onehot(labels: &[u8], classes: usize, device: &Device) -> Result<Tensor<2>, LabelError> {
    let mut v = vec![0f32; labels.len() * classes];
    for (i, &label) in labels.iter().enumerate() {
        let l = label as usize;
        if l >= classes {
            return Err(LabelError { label, classes });
        }
        v[i * classes + l] = 1.0;
    }
    Ok(Tensor::from_data(
        TensorData::new(v, [labels.len(), classes]),
        device,
    ))
}

/// Runs `generator` in inference mode on latents `z` (`n × z_dim`, row-major) and optional labels
/// (ignored by an unconditional generator): `n × data_dim` values.
pub fn try_generate(
    generator: &Generator,
    z: &[f32],
    labels: Option<&[u8]>,
    device: &Device,
) -> Result<Vec<f32>, LabelError> {
    let n = z.len() / generator.z_dim();
    let zt = Tensor::<2>::from_data(TensorData::new(z.to_vec(), [n, generator.z_dim()]), device);
    let y = labels
        .filter(|_| generator.num_classes() > 0)
        .map(|l| onehot(l, generator.num_classes(), device))
        .transpose()?;
    Ok(generator
        .forward(zt, y)
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap_or_default())
}

/// [`try_generate`] for labels known to be in range (every label source of the crate is checked
/// where it enters it: the data when loaded, `--class` when parsed).
///
/// # Panics
///
/// On a label out of range, a bug of the caller.
pub fn generate(
    generator: &Generator,
    z: &[f32],
    labels: Option<&[u8]>,
    device: &Device,
) -> Vec<f32> {
    try_generate(generator, z, labels, device).unwrap_or_else(|e| panic!("{e}"))
}

/// `n` samples from `generator` (values in `[-1, 1]` for digits), latents drawn from `seed` as by
/// [`seeded_latents`], [`GENERATE_BATCH`] at a time; `labels` (`n` classes) for a conditional
/// generator.
pub fn draw(
    generator: &Generator,
    n: usize,
    seed: u64,
    labels: Option<&[u8]>,
    device: &Device,
) -> Result<Vec<f32>, LabelError> {
    let zd = generator.z_dim();
    let z = seeded_latents(seed, n, zd);
    let mut out = Vec::new();
    for lo in (0..n).step_by(GENERATE_BATCH) {
        let hi = (lo + GENERATE_BATCH).min(n);
        let l = labels.map(|l| &l[lo..hi]);
        out.extend(try_generate(generator, &z[lo * zd..hi * zd], l, device)?);
    }
    Ok(out)
}

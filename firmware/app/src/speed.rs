//! The batch the speed-check boards (`mps2-an386/`, `microbit/`) time and checksum.

use runtime_nostd::{Model, RunError, TinyScratch, format::crc32};

use crate::MAX_Z;

/// Generates batch 0 of `model` as the LM3S6965 firmware draws it at boot (digit `i` from
/// `runtime_nostd::latent(0, i)`, label `i mod num_classes` for a conditional model), one digit
/// per entry of `crcs` (its pixels' CRC-32), and returns the ticks spent in latent sampling and
/// generation: `since(now())` around each digit (a board's SysTick).
///
/// ```
/// use runtime_nostd::{Model, TinyScratch};
///
/// let model = Model::parse(tinygan_fw::blob::BLOB).unwrap();
/// let mut scratch = TinyScratch::new();
/// let mut crcs = [0u32; 8];
/// let ticks = tinygan_fw::speed::timed_batch(&model, &mut scratch, &mut crcs, || 0, |_| 5);
/// assert_eq!(ticks, Ok(40));
/// assert!(crcs.iter().all(|&crc| crc != 0));
/// ```
pub fn timed_batch(
    model: &Model<'_>,
    scratch: &mut TinyScratch,
    crcs: &mut [u32],
    now: impl Fn() -> u32,
    since: impl Fn(u32) -> u32,
) -> Result<u64, RunError> {
    let mut ticks = 0u64;
    for (index, crc) in (0u32..).zip(crcs) {
        let mut pixels = [0u8; runtime_nostd::IMAGE_PIXELS];
        let start = now();
        let mut z = [0f32; MAX_Z];
        let z = &mut z[..model.z_dim().min(MAX_Z)];
        runtime_nostd::latent(0, index, z);
        let label = (model.num_classes() > 0).then(|| (index % model.num_classes() as u32) as u8);
        model.generate(z, label, scratch, &mut pixels)?;
        ticks += since(start) as u64;
        *crc = crc32(&pixels);
    }
    Ok(ticks)
}

//! The moving average of the generator's weights: its recurrence, its batch-norm statistics, and
//! how checkpoints carry it to sampling and export.

use burn::prelude::*;
use trainer::checkpoint::Weights;
use trainer::config::{DEFAULT_EMA, TrainConfig};
use trainer::data::{Dataset, TrainData};
use trainer::model::{GeneratorConfig, Preset, init_seeded};
use trainer::objective::Loss;
use trainer::sample::{fixed_noise, generate};
use trainer::train::Trainer;

mod common;
use common::{flat, synthetic_digits};

/// After every step, avg_t = d_t·avg_{t−1} + (1 − d_t)·w_t with d_t = min(decay, (1+t)/(10+t)),
/// starting from the initial weights, computed here independently in f64.
#[test]
fn the_average_follows_its_recurrence() {
    let decay = 0.6;
    let cfg = TrainConfig::with_defaults(Preset::Toy, Loss::NsGan)
        .with_dataset(Dataset::Gaussians8)
        .with_batch(16)
        .with_seed(3)
        .with_ema(Some(decay));
    let mut t = Trainer::new(cfg.clone(), &Device::flex(), TrainData::Gaussians8).unwrap();
    let mut expected: Vec<f64> = flat(&t.generator).iter().map(|&v| v as f64).collect();
    assert_eq!(flat(&t.sampling_generator()), flat(&t.generator));
    for step in 1..=12u64 {
        t.step().unwrap();
        let d = decay.min((1.0 + step as f64) / (10.0 + step as f64));
        assert_eq!(cfg.ema_decay(step), d);
        for (e, w) in expected.iter_mut().zip(flat(&t.generator)) {
            *e = d * *e + (1.0 - d) * w as f64;
        }
        let avg = flat(&t.sampling_generator());
        assert_eq!(avg.len(), expected.len());
        let worst = avg
            .iter()
            .zip(&expected)
            .map(|(&a, &e)| (a as f64 - e).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-5, "step {step}: off by {worst}");
    }
    // The average lags the trained weights: it is not a copy of them.
    assert_ne!(flat(&t.sampling_generator()), flat(&t.generator));
}

/// Calibrated on one batch, inference-mode batch norm uses exactly that batch's statistics, so
/// the generator reproduces its training-mode output on that batch.
#[test]
fn calibrated_batch_norm_reproduces_training_mode() {
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    let g = init_seeded(&ad, 1, |d| GeneratorConfig::new(Preset::Tiny).init(d));
    let zv: Vec<f32> = (0..32 * 64)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let z = |d: &Device| Tensor::<2>::from_data(TensorData::new(zv.clone(), [32, 64]), d);
    let train_mode: Vec<f32> = g
        .forward(z(&ad), None)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();

    let inference = g.valid();
    let before: Vec<f32> = inference
        .forward(z(&dev), None)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    inference.calibrate_batch_norm(&[(z(&dev), None)]);
    let after: Vec<f32> = inference
        .forward(z(&dev), None)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let worst = |a: &[f32]| {
        a.iter()
            .zip(&train_mode)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(worst(&after) < 1e-4, "calibrated: off by {}", worst(&after));
    assert!(
        worst(&before) > 1e-2,
        "the default statistics should not fit"
    );
}

/// A checkpoint holds both generators; sampling uses the average unless told otherwise, and a
/// run without one (`ema = 0`) has only its trained weights.
#[test]
fn checkpoints_carry_the_average() {
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    for (ema, has) in [(None, true), (Some(0.0), false)] {
        let cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::NsGan)
            .with_batch(8)
            .with_ema(ema);
        let mut t = Trainer::new(cfg, &dev, synthetic_digits(32)).unwrap();
        for _ in 0..3 {
            t.step().unwrap();
        }
        assert_eq!(t.has_average(), has);
        let p = dir.path().join("c.tgc");
        t.save(&p).unwrap();

        let avg = Trainer::load_generator(&p, &dev, Weights::Averaged).unwrap();
        let trained = Trainer::load_generator(&p, &dev, Weights::Trained).unwrap();
        assert_eq!((avg.averaged, trained.averaged), (has, false));
        assert_eq!(avg.iteration, 3);
        assert_eq!(flat(&avg.generator), flat(&t.sampling_generator()));
        assert_eq!(flat(&trained.generator), flat(&t.generator.valid()));
        assert_eq!(flat(&avg.generator) != flat(&trained.generator), has);
        // Inference from the loaded generators reads the loaded batch-norm statistics.
        let z = fixed_noise(9, 4, 64);
        assert_eq!(
            generate(&trained.generator, &z, None, &dev),
            t.generate(&z, None)
        );
        assert_eq!(
            generate(&avg.generator, &z, None, &dev),
            generate(&t.sampling_generator(), &z, None, &dev)
        );

        let resumed = Trainer::load(&p, &dev, synthetic_digits(32)).unwrap();
        assert_eq!(
            flat(&resumed.sampling_generator()),
            flat(&t.sampling_generator())
        );
    }
}

/// Configs written before the moving average existed still load (and get the default decay).
#[test]
fn old_configs_without_the_field_load() {
    let cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::WganGp);
    let mut json: serde_json::Value = serde_json::to_value(&cfg).unwrap();
    json.as_object_mut().unwrap().remove("ema");
    let old: TrainConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.ema, None);
    assert_eq!(old.ema_decay(1_000_000), DEFAULT_EMA);
    assert!(
        TrainConfig::with_defaults(Preset::Tiny, Loss::WganGp)
            .with_ema(Some(1.0))
            .validate()
            .is_err()
    );
}

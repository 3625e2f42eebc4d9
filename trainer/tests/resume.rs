//! Resume is exact: an interrupted-and-resumed run ends with the same weights (batch-norm running
//! statistics included) as an uninterrupted one with the same seed, on the CPU backend.
//!
//! Its own test binary, so that no other training runs in the process at the same time.

use burn::prelude::*;
use trainer::model::Preset;
use trainer::objective::Loss;
use trainer::run::{self, RunOptions};
use trainer::train::{TrainConfig, Trainer};

mod common;
use common::{flat, synthetic_digits};

#[test]
fn interrupted_and_resumed_run_ends_with_identical_weights() {
    let mut cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::WganGp)
        .with_batch(8)
        .with_iters(6)
        .with_sample_every(3)
        .with_checkpoint_every(100)
        .with_seed(42);
    cfg.n_critic = 2;
    let quiet = RunOptions {
        quiet: true,
        ..Default::default()
    };
    let dev = Device::flex();

    let straight = tempfile::tempdir().unwrap();
    let s = run::start(
        cfg.clone(),
        straight.path(),
        &dev,
        synthetic_digits(64),
        &quiet,
    )
    .unwrap();
    assert!(s.finished);

    let split = tempfile::tempdir().unwrap();
    let stop = RunOptions {
        stop_after: Some(4),
        ..quiet.clone()
    };
    let s = run::start(cfg, split.path(), &dev, synthetic_digits(64), &stop).unwrap();
    assert_eq!((s.iteration, s.finished), (4, false));
    let s = run::resume(split.path(), &dev, synthetic_digits(64), &quiet).unwrap();
    assert_eq!((s.iteration, s.finished), (6, true));

    let a = Trainer::load(
        &run::checkpoint_path(straight.path()),
        &dev,
        synthetic_digits(64),
    )
    .unwrap();
    let b = Trainer::load(
        &run::checkpoint_path(split.path()),
        &dev,
        synthetic_digits(64),
    )
    .unwrap();
    assert_eq!(a.iteration, 6);
    assert_eq!(
        flat(&a.generator),
        flat(&b.generator),
        "generator weights differ"
    );
    assert_eq!(flat(&a.critic), flat(&b.critic), "critic weights differ");
    // The moving average of the generator's weights (what export uses) too.
    assert!(a.has_average());
    assert_eq!(
        flat(&a.sampling_generator()),
        flat(&b.sampling_generator()),
        "averaged generators differ"
    );
    // Batch-norm running statistics are part of the state too.
    let bn = |t: &Trainer| {
        t.generator
            .bn1
            .as_ref()
            .unwrap()
            .running_var
            .value()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap()
    };
    assert_eq!(bn(&a), bn(&b));
    // The metrics log has exactly one row per iteration after the resume.
    let rows = trainer::report::read_metrics(&split.path().join("metrics.csv")).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.iter).collect::<Vec<_>>(),
        (1..=6).collect::<Vec<u64>>()
    );
    assert!(split.path().join("samples.gif").exists() && split.path().join("losses.png").exists());
}

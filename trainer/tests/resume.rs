//! Resume is exact: an interrupted-and-resumed run ends with the same weights (batch-norm running
//! statistics included) as an uninterrupted one with the same seed, on the CPU backend.
//!
//! Its own test binary, so that no other training runs in the process at the same time.

use burn::prelude::*;
use trainer::config::{Retune, TrainConfig};
use trainer::model::Preset;
use trainer::objective::Loss;
use trainer::run::{self, RunOptions};
use trainer::rundir::{RunDir, RunLock};
use trainer::train::Trainer;

mod common;
use common::{flat, synthetic_digits};

/// The lock a run needs (held for the one call it is passed to).
fn locked(dir: &std::path::Path) -> RunLock {
    RunDir::new(dir).create_and_lock().unwrap()
}

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
        &locked(straight.path()),
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
    let s = run::start(
        cfg,
        &locked(split.path()),
        &dev,
        synthetic_digits(64),
        &stop,
    )
    .unwrap();
    assert_eq!((s.iteration, s.finished), (4, false));
    let s = run::resume(&locked(split.path()), &dev, synthetic_digits(64), &quiet).unwrap();
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
        t.generator.batch_norms()[1]
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

    // A run stopped before its first checkpoint (as when killed while starting) starts again from
    // its saved config and ends exactly where the uninterrupted run does.
    let early = tempfile::tempdir().unwrap();
    let stop = RunOptions {
        stop_after: Some(2),
        ..quiet.clone()
    };
    let cfg = trainer::run::read_config(straight.path()).unwrap();
    run::start(
        cfg,
        &locked(early.path()),
        &dev,
        synthetic_digits(64),
        &stop,
    )
    .unwrap();
    std::fs::remove_file(run::checkpoint_path(early.path())).unwrap();
    let s = run::resume(&locked(early.path()), &dev, synthetic_digits(64), &quiet).unwrap();
    assert_eq!((s.iteration, s.finished), (6, true));
    let c = Trainer::load(
        &run::checkpoint_path(early.path()),
        &dev,
        synthetic_digits(64),
    )
    .unwrap();
    assert_eq!(flat(&a.generator), flat(&c.generator));
    let rows = trainer::report::read_metrics(&early.path().join("metrics.csv")).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.iter).collect::<Vec<_>>(),
        (1..=6).collect::<Vec<u64>>()
    );
}

/// `--cpu-budget`: the run ends at the first iteration whose training steps bring the process CPU
/// time (`cpu_s`, which only grows) to the budget, as a finished run (checkpoint written); a
/// resumed run counts the CPU time of the earlier session.
/// `--resume --lr … --ema …` (a cool-down): the new values train from the checkpoint on, are
/// recorded in the run, and a later plain resume keeps them, bit-exactly.
#[test]
fn a_retuned_resume_keeps_its_new_rates_through_later_resumes() {
    let cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::NsGan)
        .with_batch(8)
        .with_iters(7)
        .with_sample_every(1_000)
        .with_checkpoint_every(1_000)
        .with_seed(9);
    let dev = Device::flex();
    let opts = |stop_after: Option<u64>, retune: Retune| RunOptions {
        quiet: true,
        stop_after,
        retune,
        ..Default::default()
    };
    let cool = Retune {
        lr: Some(1e-5),
        ema: Some(0.9),
        ..Retune::default()
    };
    let data = || synthetic_digits(64);
    let first_four = |dir: &std::path::Path| {
        run::start(
            cfg.clone(),
            &locked(dir),
            &dev,
            data(),
            &opts(Some(4), Retune::default()),
        )
        .unwrap();
    };
    // Cooled at 4, straight to the end.
    let one = tempfile::tempdir().unwrap();
    first_four(one.path());
    let s = run::resume(&locked(one.path()), &dev, data(), &opts(None, cool)).unwrap();
    assert_eq!((s.iteration, s.finished), (7, true));
    // Cooled at 4, stopped at 5, then resumed without flags.
    let two = tempfile::tempdir().unwrap();
    first_four(two.path());
    run::resume(&locked(two.path()), &dev, data(), &opts(Some(1), cool)).unwrap();
    let s = run::resume(
        &locked(two.path()),
        &dev,
        data(),
        &opts(None, Retune::default()),
    )
    .unwrap();
    assert_eq!((s.iteration, s.finished), (7, true));
    // Not cooled.
    let plain = tempfile::tempdir().unwrap();
    first_four(plain.path());
    run::resume(
        &locked(plain.path()),
        &dev,
        data(),
        &opts(None, Retune::default()),
    )
    .unwrap();

    let load =
        |dir: &std::path::Path| Trainer::load(&run::checkpoint_path(dir), &dev, data()).unwrap();
    let (a, b, c) = (load(one.path()), load(two.path()), load(plain.path()));
    for t in [&a, &b] {
        assert_eq!((t.cfg.optim.lr_g(), t.cfg.optim.lr_d()), (1e-5, 1e-5));
        assert_eq!(t.cfg.ema, Some(0.9));
    }
    let saved = run::read_config(two.path()).unwrap();
    assert_eq!((saved.optim.lr, saved.ema), (1e-5, Some(0.9)));
    assert_eq!(
        flat(&a.generator),
        flat(&b.generator),
        "generator weights differ"
    );
    assert_eq!(flat(&a.sampling_generator()), flat(&b.sampling_generator()));
    assert_ne!(
        flat(&a.generator),
        flat(&c.generator),
        "the new learning rate changed nothing"
    );
}

#[test]
fn a_cpu_budget_ends_the_run_at_the_first_iteration_that_reaches_it() {
    let cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::NsGan)
        .with_batch(8)
        .with_iters(1_000_000)
        .with_sample_every(1_000_000)
        .with_checkpoint_every(1_000_000)
        .with_seed(5);
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let budget = |s: f64| RunOptions {
        quiet: true,
        cpu_budget_s: Some(s),
        ..Default::default()
    };
    let s = run::start(
        cfg,
        &locked(dir.path()),
        &dev,
        synthetic_digits(64),
        &budget(0.5),
    )
    .unwrap();
    assert!(s.finished);
    let rows = trainer::report::read_metrics(&dir.path().join("metrics.csv")).unwrap();
    let cpu: Vec<f64> = rows.iter().map(|r| r.cpu_s.unwrap()).collect();
    assert_eq!(rows.last().unwrap().iter, s.iteration);
    assert!(
        cpu.windows(2).all(|w| w[0] < w[1]),
        "cpu_s must grow: {cpu:?}"
    );
    assert!(*cpu.last().unwrap() >= 0.5);
    assert!(cpu.len() == 1 || cpu[cpu.len() - 2] < 0.5);
    let ck = Trainer::load(
        &run::checkpoint_path(dir.path()),
        &dev,
        synthetic_digits(64),
    )
    .unwrap();
    assert_eq!(ck.iteration, s.iteration);

    // Resumed with a larger budget: cpu_s continues from the first session's.
    let first = *cpu.last().unwrap();
    let s2 = run::resume(
        &locked(dir.path()),
        &dev,
        synthetic_digits(64),
        &budget(first + 0.3),
    )
    .unwrap();
    let rows = trainer::report::read_metrics(&dir.path().join("metrics.csv")).unwrap();
    assert_eq!(rows.len() as u64, s2.iteration);
    let resumed = rows[s.iteration as usize].cpu_s.unwrap();
    assert!(resumed > first, "{resumed} after {first}");
    assert!(rows.last().unwrap().cpu_s.unwrap() >= first + 0.3);
}

/// A run that diverges (a learning rate of 1e6) stops with one message naming the iteration, and
/// the last checkpoint written before it is whole: it loads, with finite weights, at an earlier
/// iteration.
#[test]
fn a_diverging_run_stops_with_one_message_and_keeps_its_last_checkpoint() {
    let mut cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::WganGp)
        .with_batch(4)
        .with_iters(50)
        .with_sample_every(100)
        .with_checkpoint_every(1)
        .with_seed(1);
    cfg.n_critic = 1;
    cfg.optim.lr = 1e6;
    cfg.optim.lr_g = None;
    cfg.optim.lr_d = None;
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let quiet = RunOptions {
        quiet: true,
        ..Default::default()
    };
    let err = run::start(cfg, &locked(dir.path()), &dev, synthetic_digits(16), &quiet)
        .map(|s| s.iteration)
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("training diverged"), "{msg}");
    assert!(msg.contains("is left intact"), "{msg}");
    let t = Trainer::load(
        &run::checkpoint_path(dir.path()),
        &dev,
        synthetic_digits(16),
    )
    .unwrap();
    assert!(
        t.iteration >= 1 && msg.contains(&format!("at iteration {}", t.iteration + 1)),
        "{msg}"
    );
    assert!(flat(&t.generator).iter().all(|v| v.is_finite()));
}

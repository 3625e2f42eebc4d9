//! Training behaviour on the CPU backend: every objective trains, and WGAN-GP covers the modes of
//! the 8-Gaussian ring (resume: tests/resume.rs).

use burn::prelude::*;
use trainer::data::gaussians8_modes_covered;
use trainer::model::Preset;
use trainer::objective::Loss;
use trainer::train::{Dataset, TrainConfig, TrainData, Trainer};

mod common;
use common::{flat, synthetic_digits};

#[test]
fn every_objective_trains_tiny_without_nan_and_changes_weights() {
    let cases: Vec<(Loss, bool, bool)> = vec![
        (Loss::Gan, false, false),
        (Loss::NsGan, false, false),
        (Loss::Wgan, false, false),
        (Loss::WganGp, false, false),
        (Loss::WganLp, false, false),
        (Loss::WganFd, false, false),
        (Loss::Wgan, true, false),
        (Loss::WganGp, false, true),
        (Loss::NsGan, true, true),
    ];
    for (loss, sn, cond) in cases {
        let mut cfg = TrainConfig::with_defaults(Preset::Tiny, loss)
            .with_batch(8)
            .with_spectral_norm(sn)
            .with_conditional(cond)
            .with_seed(1);
        cfg.n_critic = 2;
        let mut t = Trainer::new(cfg, &Device::flex(), synthetic_digits(64)).unwrap();
        let g0 = flat(&t.generator);
        let d0 = flat(&t.critic);
        for _ in 0..3 {
            let s = t
                .step()
                .unwrap_or_else(|e| panic!("{loss:?} sn={sn} cond={cond}: {e}"));
            assert!(s.d_loss.is_finite() && s.g_loss.is_finite());
            assert_eq!(s.wasserstein.is_some(), loss.is_wasserstein());
            assert_eq!(s.grad_norm.is_some(), loss.has_penalty());
            if let Some(a) = s.acc_real {
                assert!((0.0..=1.0).contains(&a));
            }
        }
        let g1 = flat(&t.generator);
        let d1 = flat(&t.critic);
        assert!(g1.iter().all(|v| v.is_finite()) && d1.iter().all(|v| v.is_finite()));
        let changed = |a: &[f32], b: &[f32]| a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert!(
            changed(&g0, &g1) > g0.len() / 2,
            "{loss:?}: generator barely changed"
        );
        assert!(
            changed(&d0, &d1) > d0.len() / 2,
            "{loss:?}: critic barely changed"
        );
        if loss == Loss::Wgan && !sn {
            assert!(
                d1.iter().all(|v| v.abs() <= 0.01 + 1e-7),
                "weights not clipped"
            );
        }
    }
}

#[test]
fn wgan_gp_covers_the_modes_of_gaussians8() {
    // Criterion: after 1500 generator iterations, 2 000 samples; a mode counts as covered when at
    // least 2% of the samples lie within 0.25 of its centre (std 0.02) (see data::gaussians8_modes_covered).
    let mut optim = Loss::WganGp.default_optim();
    optim.lr = 1e-3;
    let cfg = TrainConfig::new(Preset::Toy, Loss::WganGp, 5, optim)
        .with_dataset(Dataset::Gaussians8)
        .with_batch(256)
        .with_lambda(0.1)
        .with_seed(7);
    let mut t = Trainer::new(cfg, &Device::flex(), TrainData::Gaussians8).unwrap();
    for _ in 0..1500 {
        t.step().unwrap();
    }
    let z: Vec<f32> = trainer::train::fixed_noise(99, 2000, 2);
    let pts = t.generate(&z, None);
    let (covered, counts) = gaussians8_modes_covered(&pts, 0.02);
    assert!(covered >= 7, "only {covered}/8 modes covered: {counts:?}");
}

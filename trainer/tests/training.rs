//! Training behaviour on the CPU backend: every objective trains, and WGAN-GP covers the modes of
//! the 8-Gaussian ring (resume: tests/resume.rs).

use burn::prelude::*;
use trainer::config::TrainConfig;
use trainer::data::gaussians8_modes_covered;
use trainer::data::{Dataset, TrainData};
use trainer::model::Preset;
use trainer::objective::Loss;
use trainer::train::Trainer;

mod common;
use common::{flat, synthetic_digits};

#[test]
fn every_objective_trains_tiny_without_nan_and_changes_weights() {
    // (objective, spectral norm, conditional, R1 γ)
    let cases: Vec<(Loss, bool, bool, Option<f64>)> = vec![
        (Loss::Gan, false, false, None),
        (Loss::NsGan, false, false, None),
        (Loss::Hinge, false, false, None),
        (Loss::Wgan, false, false, None),
        (Loss::WganGp, false, false, None),
        (Loss::WganLp, false, false, None),
        (Loss::WganLpSquared, false, false, None),
        (Loss::WganFd, false, false, None),
        (Loss::WganFdOneSided, false, false, None),
        (Loss::Wgan, true, false, None),
        (Loss::WganGp, false, true, None),
        (Loss::NsGan, true, true, None),
        (Loss::Hinge, true, false, Some(1.0)),
        (Loss::NsGan, false, true, Some(1.0)),
    ];
    for (loss, sn, cond, r1) in cases {
        let mut cfg = TrainConfig::with_defaults(Preset::Tiny, loss)
            .with_batch(8)
            .with_spectral_norm(sn)
            .with_conditional(cond)
            .with_r1(r1)
            .with_r1_every(Some(2))
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
            assert!(s.g_grad_norm.is_finite() && s.g_grad_norm > 0.0);
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
    let z: Vec<f32> = trainer::sample::fixed_noise(99, 2000, 2);
    let pts = t.generate(&z, None);
    let (covered, counts) = gaussians8_modes_covered(&pts, 0.02);
    assert!(covered >= 7, "only {covered}/8 modes covered: {counts:?}");
}

/// Lazy R1: every `r1_every`-th critic step, with weight `r1_every·γ/2`; refused for the WGAN
/// family (which has its own Lipschitz constraint); and it changes the critic's update.
#[test]
fn lazy_r1_is_scheduled_validated_and_applied() {
    let cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::NsGan)
        .with_r1(Some(2.0))
        .with_r1_every(Some(4));
    let weights: Vec<f64> = (0..9).map(|s| cfg.r1_weight(s)).collect();
    assert_eq!(weights, [4.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 4.0]);
    cfg.validate().unwrap();
    assert_eq!(
        TrainConfig::with_defaults(Preset::Tiny, Loss::NsGan).r1_weight(0),
        0.0
    );
    let err = TrainConfig::with_defaults(Preset::Tiny, Loss::WganGp)
        .with_r1(Some(1.0))
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("--r1"), "{err}");

    let critic_after_one_step = |r1: Option<f64>| {
        let cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::NsGan)
            .with_batch(8)
            .with_r1(r1)
            .with_seed(2);
        let mut t = Trainer::new(cfg, &Device::flex(), synthetic_digits(64)).unwrap();
        t.step().unwrap();
        flat(&t.critic)
    };
    assert_ne!(
        critic_after_one_step(None),
        critic_after_one_step(Some(10.0))
    );
}

/// Two time-scales: hinge's defaults train D at 4e-4 and G at 1e-4. Adam's first step (β1 = 0)
/// moves a weight by at most its learning rate, and about that much where the gradient is
/// large, so the largest change of each network shows its learning rate.
#[test]
fn generator_and_critic_learn_at_their_own_rates() {
    let cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::Hinge)
        .with_batch(8)
        .with_seed(3);
    assert_eq!((cfg.optim.lr_g(), cfg.optim.lr_d()), (1e-4, 4e-4));
    let mut t = Trainer::new(cfg, &Device::flex(), synthetic_digits(64)).unwrap();
    // Trainable weights only (batch norm's running statistics move by their momentum, not lr).
    let g_weights = |t: &Trainer| flat(t.generator.input_layer());
    let d_weights = |t: &Trainer| flat(&t.critic.convs()[1]);
    let (g0, d0) = (g_weights(&t), d_weights(&t));
    t.step().unwrap();
    let largest = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() as f64)
            .fold(0.0, f64::max)
    };
    let (dg, dd) = (largest(&g0, &g_weights(&t)), largest(&d0, &d_weights(&t)));
    assert!((dg / 1e-4 - 1.0).abs() < 0.02, "generator moved {dg:e}");
    assert!((dd / 4e-4 - 1.0).abs() < 0.02, "critic moved {dd:e}");
}

#[test]
fn a_wider_or_deeper_critic_trains_against_the_same_generator() {
    use trainer::model::CriticSize;
    let shapes = |size: CriticSize| {
        let cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::NsGan)
            .with_r1(Some(1.0))
            .with_r1_every(Some(1))
            .with_batch(8)
            .with_critic(Some(size));
        let mut t = Trainer::new(cfg, &Device::flex(), synthetic_digits(64)).unwrap();
        t.step().unwrap();
        let conv: Vec<[usize; 4]> = t.critic.convs().iter().map(|c| c.weight.dims()).collect();
        let g: usize = t.generator.input_layer().weight.dims().iter().product();
        let d_finite = t
            .critic
            .convs()
            .iter()
            .all(|c| flat(c).iter().all(|v| v.is_finite()));
        (conv, t.critic.out.weight.dims(), g, d_finite)
    };
    let (standard, wide, deep) = (
        shapes(CriticSize::Standard),
        shapes(CriticSize::Wide),
        shapes(CriticSize::Deep),
    );
    assert_eq!(standard.0, [[64, 1, 4, 4], [128, 64, 4, 4]]);
    assert_eq!(standard.1, [128 * 49, 1]);
    assert_eq!(wide.0, [[128, 1, 4, 4], [256, 128, 4, 4]]);
    assert_eq!(wide.1, [256 * 49, 1]);
    assert_eq!(deep.0, [[64, 1, 4, 4], [128, 64, 4, 4], [128, 128, 3, 3]]);
    assert_eq!(deep.1, [128 * 49, 1]);
    // The generator is the preset's whatever the critic.
    assert!(standard.2 == wide.2 && wide.2 == deep.2);
    assert!(
        standard.3 && wide.3 && deep.3,
        "a critic weight is not finite after one step"
    );
}

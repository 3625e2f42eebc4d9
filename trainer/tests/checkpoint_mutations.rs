//! A checkpoint whose checksum is right but whose sections are damaged (as a bug in a writer, or a
//! deliberate edit, would make it) is refused with an error, never a panic: every section of a
//! real checkpoint is cut, bit-flipped, emptied, swapped with another, or removed, the file is
//! sealed again, and both loaders (`Trainer::load` for `--resume`, `load_generator` for sample,
//! eval and export) must answer with `Err` or a usable model. The container itself (checksum,
//! every truncation and bit flip) is covered in `checkpoint/file.rs`.
//!
//! Its own test binary: no other training runs in the process at the same time.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use trainer::checkpoint::Weights;
use trainer::checkpoint::file::Sections;
use trainer::config::TrainConfig;
use trainer::model::Preset;
use trainer::objective::Loss;
use trainer::run::{self, RunOptions};
use trainer::rundir::RunDir;
use trainer::train::Trainer;

mod common;
use common::synthetic_digits;

#[test]
fn damaged_sections_are_errors_not_panics() {
    let cfg = TrainConfig::with_defaults(Preset::Tiny, Loss::NsGan)
        .with_batch(4)
        .with_iters(1)
        .with_sample_every(100)
        .with_seed(3);
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let quiet = RunOptions {
        quiet: true,
        ..Default::default()
    };
    let lock = RunDir::new(dir.path()).create_and_lock().unwrap();
    run::start(cfg, &lock, &dev, synthetic_digits(16), &quiet).unwrap();
    drop(lock);
    let ck = run::checkpoint_path(dir.path());
    let good = Sections::read(&ck).unwrap();
    let names: Vec<String> = good.0.keys().cloned().collect();

    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(17);
    let mut mutations: Vec<(String, Sections)> = Vec::new();
    for name in &names {
        let len = good.0[name].len();
        let mut with = |what: String, f: &mut dyn FnMut(&mut Vec<u8>)| {
            let mut s = good.clone();
            f(s.0.get_mut(name).unwrap());
            mutations.push((format!("{name}: {what}"), s));
        };
        with("emptied".into(), &mut |b| b.clear());
        for cut in [1, 4, 8, len / 2, len.saturating_sub(1)] {
            with(format!("cut to {cut}"), &mut |b| b.truncate(cut));
        }
        with("doubled".into(), &mut |b| {
            let c = b.clone();
            b.extend_from_slice(&c)
        });
        for _ in 0..12 {
            let at = rng.random_range(0..len.max(1));
            let bit = rng.random_range(0..8);
            with(format!("bit {bit} of byte {at} flipped"), &mut |b| {
                if let Some(x) = b.get_mut(at) {
                    *x ^= 1 << bit
                }
            });
        }
        for other in names.iter().filter(|o| *o != name) {
            let mut s = good.clone();
            s.0.insert(name.clone(), good.0[other].clone());
            mutations.push((format!("{name}: holds {other}"), s));
        }
        let mut s = good.clone();
        s.0.remove(name);
        mutations.push((format!("{name}: removed"), s));
    }

    let mut panics = Vec::new();
    let mut structural_loaded = Vec::new();
    let (mut refused, mut loaded) = (0, 0);
    for (what, sections) in &mutations {
        sections.write_atomic(&ck).unwrap();
        for loader in ["resume", "generator"] {
            let r = catch_unwind(AssertUnwindSafe(|| match loader {
                "resume" => Trainer::load(&ck, &dev, synthetic_digits(16)).map(|_| ()),
                _ => RunDir::new(dir.path())
                    .load_generator(&dev, Weights::Averaged)
                    .map(|_| ()),
            }));
            match r {
                Ok(Ok(())) => {
                    loaded += 1;
                    if !what.contains("flipped") {
                        structural_loaded.push(format!("{loader} / {what}"));
                    }
                }
                Ok(Err(e)) => {
                    let msg = format!("{e:#}");
                    assert!(msg.contains("checkpoint"), "{what}: unclear error {msg}");
                    refused += 1;
                }
                Err(_) => panics.push(format!("{loader} / {what}")),
            }
        }
    }
    assert!(
        panics.is_empty(),
        "{} of {} loads panicked: {panics:#?}",
        panics.len(),
        2 * mutations.len()
    );
    eprintln!(
        "{} damaged checkpoints, {} loads: {refused} refused, {loaded} loaded (a flipped bit in a \
         weight is still a weight)",
        mutations.len(),
        2 * mutations.len()
    );
    // Besides flipped bits (a flipped bit in a weight is still a weight) and sections a loader
    // does not read, only these may load: the trained and averaged generators have the same
    // shapes, a checkpoint from before the average has none, and Burn's optimisers take the
    // state of whatever parameters a record names (those two sections are guarded by the file's
    // checksum alone). Every other cut, emptied, doubled, swapped or missing section is refused
    // by the loader that reads it.
    let allowed = |w: &str| {
        // `load_generator` (averaged weights) reads neither the critic nor the trained generator.
        w.starts_with("generator / critic.bpk:")
            || w.starts_with("generator / generator.bpk:")
            || w.contains("optim_")
            || w.ends_with("generator_ema.bpk: removed")
            || w.ends_with("generator.bpk: holds generator_ema.bpk")
            || w.ends_with("generator_ema.bpk: holds generator.bpk")
    };
    let unexpected: Vec<_> = structural_loaded.iter().filter(|w| !allowed(w)).collect();
    assert!(unexpected.is_empty(), "damage that loaded: {unexpected:#?}");
}

/// Found by `trainer/fuzz` (`checkpoint` target): an optimiser section whose state tensor names no
/// parameter made Burn's optimiser loader panic; it is refused with a message instead.
#[test]
fn an_optimizer_state_that_names_no_parameter_is_refused() {
    use trainer::config::dataset_for;
    use trainer::data::TrainData;

    let mut cfg = TrainConfig::with_defaults(Preset::Toy, Loss::NsGan)
        .with_batch(8)
        .with_seed(3);
    cfg.dataset = dataset_for(Preset::Toy, cfg.dataset);
    let dev = Device::flex();
    let mut t = Trainer::new(cfg, &dev, TrainData::Gaussians8).unwrap();
    t.step().unwrap();
    let mut sections = t.to_sections().unwrap();
    let orphan = burn_pack::Tensor::new(
        "7.moment_1".to_string(),
        burn_pack::DType::F32,
        [2],
        None,
        burn::tensor::Bytes::from_bytes_vec(vec![0; 8]),
    );
    let record = burn_pack::Writer::new(vec![orphan]).into_bytes().unwrap();
    sections.0.insert("optim_g.bpk".into(), record.to_vec());
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("checkpoint.tgc");
    sections.write_atomic(&ck).unwrap();
    let err = Trainer::load(&ck, &dev, TrainData::Gaussians8)
        .err()
        .expect("a damaged optimiser section is refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("checkpoint") && msg.contains("optim_g.bpk") && msg.contains("no parameter"),
        "{msg}"
    );
}

//! Helpers shared by the integration tests: running exported ONNX models with tract (the
//! `tract-check` crate, shared with the trainer's tests).
#![allow(unused_imports)]

pub use tract_check::{plan, run};

use export::spec::Preset;

/// The presets × conditional combinations the tests cover.
pub const CASES: &[(Preset, bool)] = &[
    (Preset::Tiny, false),
    (Preset::Tiny, true),
    (Preset::Dcgan, false),
    (Preset::Mlp, false),
    (Preset::Mlp, true),
];

//! Helpers shared by the integration tests: running exported ONNX models with tract (the
//! `tract-check` crate, shared with the trainer's tests).
#![allow(unused_imports)]

pub use tract_check::{CASES, plan, run};

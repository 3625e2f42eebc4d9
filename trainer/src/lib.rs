//! tinygan's trainer: GANs on MNIST with Burn.
//!
//! A digit's path through this crate: [`data`] reads MNIST's IDX bytes, [`train`] assembles
//! batches and runs the objectives of [`objective`] on the networks of [`model`], [`run`] writes
//! what a person watches (samples, metrics, checkpoints), and [`to_spec`] hands the trained
//! generator to the `export` crate, which produces the blob the microcontroller runs.
//!
//! The device (CPU through burn-flex, or a GPU through burn-wgpu) is chosen once, in [`device`].

pub mod checkpoint;
pub mod cli;
pub mod conv_cpu;
mod cpu_gemm;
pub mod data;
pub mod device;
pub mod eval;
pub mod linear_cpu;
pub mod model;
pub mod objective;
pub mod report;
pub mod run;
pub mod to_spec;
pub mod train;

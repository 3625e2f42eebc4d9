//! tinygan's trainer: GANs on MNIST with Burn.
//!
//! A digit's path through this crate: [`data`] reads MNIST's IDX bytes, [`train`] holds the
//! models, optimisers and batches of a run, [`step`] runs the objectives of [`objective`] on the
//! networks of [`model`] (whose CPU kernels live in [`kernels`]), [`run`] writes what a person
//! watches ([`report`]: samples, metrics) and [`checkpoint`]s into a [`rundir`], and [`to_spec`]
//! hands the trained generator to the `export` crate, which produces the blob the microcontroller
//! runs. [`config`] is the one home of a run's settings and their defaults; [`cli`] the only
//! module that knows the command line.
//!
//! The device (CPU through burn-flex, or a GPU through burn-wgpu) is chosen once, in [`device`].
#![deny(missing_docs)]

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod ema;
pub mod eval;
pub mod kernels;
pub mod model;
pub mod objective;
pub mod report;
pub mod run;
pub mod rundir;
pub mod sample;
pub mod step;
pub mod to_spec;
pub mod train;

//! CPU kernels behind the models' convolutions and dense layers: Burn backend extensions that run
//! them as GEMMs (the `gemm` crate) on the CPU backend, and Burn's own ops everywhere else.

pub mod conv_cpu;
mod cpu_gemm;
pub mod linear_cpu;

//! The moving average of the generator's weights that sampling and export use, and the batch-norm
//! statistics measured for it.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use crate::config::TrainConfig;
use crate::model::Generator;
use crate::sample::{cycling_labels, fixed_noise, onehot};

/// Samples over which a moving-average generator's batch-norm statistics are measured.
const CALIBRATION_BATCHES: usize = 32;

/// `avg ← d·avg + (1 − d)·live`, parameter by parameter (`live` may be on the autodiff device);
/// any module (the generator here, the 1-D networks of the experiments).
pub fn blend<M: Module>(avg: M, live: &M, d: f64) -> M {
    struct Collect(Vec<Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let t = p.val().without_autodiff();
            let n = t.shape().num_elements();
            self.0.push(t.reshape([n]));
        }
    }
    struct Blend {
        live: std::vec::IntoIter<Tensor<1>>,
        d: f64,
    }
    impl ModuleMapper for Blend {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let d = self.d;
            match self.live.next() {
                Some(live) => p.map(|a| {
                    let dims = a.dims();
                    a.mul_scalar(d).add(live.reshape(dims).mul_scalar(1.0 - d))
                }),
                // Both modules come from one config, so this does not happen; keep the average.
                None => p,
            }
        }
    }
    let mut c = Collect(Vec::new());
    live.visit(&mut c);
    avg.map(&mut Blend {
        live: c.0.into_iter(),
        d,
    })
}

/// Fixed latents (and cycling labels) on which an averaged generator's batch norm is measured:
/// `CALIBRATION_BATCHES` batches of the run's batch size.
fn calibration_batches(cfg: &TrainConfig, device: &Device) -> Vec<(Tensor<2>, Option<Tensor<2>>)> {
    let (b, zd, c) = (cfg.batch, cfg.preset.z_dim(), cfg.num_classes());
    let z = fixed_noise(cfg.seed ^ 0xca1b_0a7e, CALIBRATION_BATCHES * b, zd);
    let labels = cycling_labels(b, c);
    z.chunks(b * zd)
        .map(|chunk| {
            let zt = Tensor::from_data(TensorData::new(chunk.to_vec(), [b, zd]), device);
            // Cycling labels lie below `c` by construction.
            let y = (c > 0).then(|| onehot(&labels, c, device).ok()).flatten();
            (zt, y)
        })
        .collect()
}

/// Measures the batch-norm statistics of an averaged generator `g` (inference device) for the run
/// `cfg`, and returns it.
pub fn calibrated(g: Generator, cfg: &TrainConfig, device: &Device) -> Generator {
    g.calibrate_batch_norm(&calibration_batches(cfg, device));
    g
}

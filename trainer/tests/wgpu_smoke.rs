//! The wgpu path trains: a few steps of `tiny` on whatever adapter wgpu finds. In CI that is Mesa's
//! software Vulkan driver (lavapipe, installed by scripts/setup.sh); on a GPU machine, the GPU.
//!
//! Runs `tinygan bench --device wgpu` in a child process, so that a driver crash is reported as a
//! failed test with its output rather than taking the test harness down. `bench` stops with an
//! error on a non-finite loss, so a zero exit status also means every loss stayed finite: with
//! burn-fusion on, lavapipe gave NaN on step 3 (see `trainer::device`), which this test catches.
//! About a minute on lavapipe once its shaders are compiled (several minutes the first time).
#![cfg(feature = "wgpu")]

use std::process::Command;

#[test]
fn wgpu_trains_a_few_steps() {
    for loss in ["ns-gan", "wgan-gp"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tinygan"))
            .args([
                "bench", "--device", "wgpu", "--preset", "tiny", "--loss", loss,
            ])
            .args(["--batch", "16", "--n-critic", "2", "--iters", "3"])
            .output()
            .expect("run tinygan");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "wgpu {loss} failed ({:?}):\n{text}",
            out.status
        );
        assert!(text.contains("on wgpu ("), "did not run on wgpu:\n{text}");
        let rate: f64 = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("generator_iters_per_s "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no rate line:\n{text}"));
        assert!(rate > 0.0);
        assert!(
            text.contains("fusion off"),
            "fusion was not turned off:\n{text}"
        );
    }
}

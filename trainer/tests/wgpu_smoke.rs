//! The wgpu path trains: a few steps of `tiny` on whatever adapter wgpu finds. In CI that is Mesa's
//! software Vulkan driver (lavapipe, installed by scripts/setup.sh); on a GPU machine, the GPU.
//!
//! Runs `tinygan bench --device wgpu` in a child process, so that a driver crash is reported as a
//! failed test with its output rather than taking the test harness down.
#![cfg(feature = "wgpu")]

use std::process::Command;

#[test]
#[ignore = "open in issue 2: on lavapipe the wgpu run reaches NaN at iteration 2 and takes ~5 min; \
            run with `cargo test --release --test wgpu_smoke -- --ignored`"]
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
        let rate: f64 = text
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("generator_iters_per_s "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no rate line:\n{text}"));
        assert!(rate > 0.0);
    }
}

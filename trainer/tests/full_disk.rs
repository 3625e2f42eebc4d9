//! A full disk: with writes failing (`RLIMIT_FSIZE` 64 KiB, `SIGXFSZ` ignored, so a write past
//! the limit fails with EFBIG as a full disk fails with ENOSPC), training, export and sample stop
//! with one clear error and a non-zero exit, and every file written before is intact.

use std::process::{Command, Output};

mod common;
use common::{files, mnist_dir};

/// `tinygan ARGS`, with no file of more than `limit_kib` KiB writable when a limit is given.
fn tinygan(args: &[&str], limit_kib: Option<u32>) -> Output {
    let bin = env!("CARGO_BIN_EXE_tinygan");
    let mut c = match limit_kib {
        // An ignored signal stays ignored across exec: the write fails instead of killing.
        Some(k) => {
            let mut c = Command::new("bash");
            c.arg("-c")
                .arg(format!("trap '' XFSZ; ulimit -f {k}; exec \"$0\" \"$@\""))
                .arg(bin);
            c
        }
        None => Command::new(bin),
    };
    c.args(args).env_remove("TINYGAN_DATA").output().unwrap()
}

/// Failed with one `error:` line naming the cause, no panic.
fn assert_disk_error(o: &Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{what}: expected a failure: {err}");
    assert!(!err.contains("panicked"), "{what}: panicked: {err}");
    assert_eq!(err.matches("error:").count(), 1, "{what}: {err}");
    assert!(err.contains("File too large"), "{what}: {err}");
}

#[test]
fn a_full_disk_fails_cleanly_and_keeps_what_was_written() {
    let data = mnist_dir();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let r = run.to_str().unwrap();
    let o = tinygan(
        &[
            "train",
            "--preset",
            "tiny",
            "--batch",
            "8",
            "--iters",
            "2",
            "--sample-every",
            "1",
            "--device",
            "cpu",
            "--data",
            &data,
            "--run",
            r,
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let digits = tmp.path().join("digits.idx");
    let d = digits.to_str().unwrap();
    let o = tinygan(
        &[
            "sample", "--run", r, "--n", "8", "--out", d, "--device", "cpu",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = files(tmp.path());

    // Training on: the next grid or checkpoint cannot be written.
    let o = tinygan(
        &[
            "train", "--resume", "--iters", "4", "--device", "cpu", "--data", &data, "--run", r,
        ],
        Some(64),
    );
    assert_disk_error(&o, "train");
    // Export and sample over files that exist.
    assert_disk_error(&tinygan(&["export", "--run", r], Some(64)), "export");
    let o = tinygan(
        &[
            "sample", "--run", r, "--n", "1000", "--out", d, "--device", "cpu",
        ],
        Some(64),
    );
    assert_disk_error(&o, "sample");

    let after = files(tmp.path());
    for (name, bytes) in &before {
        let n = name.to_string_lossy();
        if n.ends_with(".lock") {
            continue; // names the latest trainer of the run
        }
        if n.ends_with("config.json") {
            // `--resume --iters 4` moved the run's end (a small write that fit): only that.
            let mut was: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            let now: serde_json::Value = serde_json::from_slice(&after[name]).unwrap();
            was["iters"] = now["iters"].clone();
            assert_eq!(was, now, "config.json changed beyond --iters");
            continue;
        }
        if n.ends_with("metrics.csv") {
            // Rewritten on resume with the same rows (and maybe more appended before the
            // failure): the rows of iterations 1 and 2 are still there, whole.
            let rows = trainer::report::read_metrics(&tmp.path().join(name)).unwrap();
            assert_eq!(rows[..2].iter().map(|r| r.iter).collect::<Vec<_>>(), [1, 2]);
            continue;
        }
        assert!(after.get(name) == Some(bytes), "{n} was changed or lost");
    }
    // Nothing half-written is left behind in the run.
    let leftovers: Vec<_> = after
        .keys()
        .filter(|p| p.to_string_lossy().contains(export::atomic::TEMP_PREFIX))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

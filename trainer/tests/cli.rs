//! The `tinygan` binary: bad input gets one clear message and a non-zero exit, never a panic; the
//! happy path writes what it promises.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::mnist_dir;

fn tinygan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinygan"))
        .args(args)
        .env_remove("TINYGAN_DATA")
        .output()
        .expect("run tinygan")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_clean_failure(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert!(
        err.contains(needle),
        "message should mention {needle:?}: {err}"
    );
}

#[test]
fn wrong_arguments_are_rejected_with_a_message() {
    assert_clean_failure(
        &tinygan(&["train", "--preset", "huge"]),
        "invalid value 'huge'",
    );
    assert_clean_failure(
        &tinygan(&["train", "--loss", "lsgan"]),
        "invalid value 'lsgan'",
    );
    assert_clean_failure(
        &tinygan(&[
            "train",
            "--loss",
            "wgan-gp",
            "--r1",
            "1",
            "--run",
            "/nonexistent/x",
        ]),
        "--r1 is for gan, ns-gan and hinge",
    );
    assert_clean_failure(
        &tinygan(&["train", "--lr-d", "0", "--run", "/nonexistent/x"]),
        "--lr-d must be > 0",
    );
    assert_clean_failure(
        &tinygan(&["train", "--r1-every", "0", "--loss", "ns-gan", "--r1", "1"]),
        "--r1-every must be at least 1",
    );
    assert_clean_failure(
        &tinygan(&["train", "--until-fcd", "5", "--run", "/nonexistent/x"]),
        "--until-fcd needs FCD measurements",
    );
    assert_clean_failure(
        &tinygan(&["train", "--cpu-budget", "0", "--run", "/nonexistent/x"]),
        "--cpu-budget must be > 0",
    );
    assert_clean_failure(
        &tinygan(&["train", "--batch", "1", "--run", "/nonexistent/x"]),
        "--batch must be at least 2",
    );
    assert_clean_failure(
        &tinygan(&["bench", "--iters", "0"]),
        "--iters must be at least 1",
    );
    assert_clean_failure(&tinygan(&["frobnicate"]), "unrecognized subcommand");
    assert_clean_failure(
        &tinygan(&["train", "--conditional", "maybe"]),
        "invalid value 'maybe'",
    );
    // On --resume only the learning rates and the averaging may change.
    let run = tempfile::tempdir().unwrap();
    let run = run.path().to_str().unwrap();
    assert_clean_failure(
        &tinygan(&["train", "--run", run, "--resume", "--loss", "hinge"]),
        "--loss cannot change on --resume",
    );
    assert_clean_failure(
        &tinygan(&["train", "--run", run, "--resume", "--conditional", "false"]),
        "--conditional cannot change on --resume",
    );
}

#[test]
fn missing_mnist_offline_says_where_to_put_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("mnist");
    std::fs::create_dir_all(&empty).unwrap();
    let o = tinygan(&[
        "train",
        "--data",
        empty.to_str().unwrap(),
        "--run",
        dir.path().join("run").to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert_clean_failure(&o, "train-images-idx3-ubyte.gz");
    assert!(stderr(&o).contains(empty.to_str().unwrap()));
}

#[test]
fn corrupt_or_missing_checkpoint_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    let o = tinygan(&[
        "sample",
        "--run",
        run.to_str().unwrap(),
        "--out",
        "x.idx",
        "--device",
        "cpu",
    ]);
    assert_clean_failure(&o, "cannot read checkpoint");
    std::fs::write(
        run.join("checkpoint.tgc"),
        b"TGCKPT\0\x01garbage that is long enough to be checked",
    )
    .unwrap();
    let o = tinygan(&[
        "sample",
        "--run",
        run.to_str().unwrap(),
        "--out",
        "x.idx",
        "--device",
        "cpu",
    ]);
    assert_clean_failure(&o, "corrupt");
    let o = tinygan(&["export", "--run", run.to_str().unwrap()]);
    assert_clean_failure(&o, "corrupt");
    let o = tinygan(&[
        "train",
        "--resume",
        "--run",
        run.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert_clean_failure(&o, "config.json");
}

fn idx_header(p: &Path) -> [u32; 4] {
    let b = std::fs::read(p).unwrap();
    let w = |i: usize| u32::from_be_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
    [w(0), w(1), w(2), w(3)]
}

/// Train two iterations on the real MNIST files (TINYGAN_DATA or ../shared/mnist), then sample
/// IDX and PNG, then export.
#[test]
fn train_sample_export_end_to_end() {
    let data = mnist_dir();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tinygan"))
        .args([
            "train",
            "--preset",
            "tiny",
            "--loss",
            "ns-gan",
            "--conditional",
            "--iters",
            "2",
            "--batch",
            "16",
        ])
        .args([
            "--sample-every",
            "1",
            "--device",
            "cpu",
            "--data",
            &data,
            "--run",
            r,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    for f in [
        "config.json",
        "metrics.csv",
        "checkpoint.tgc",
        "samples.gif",
        "losses.png",
        "samples/iter_0000002.png",
    ] {
        assert!(run.join(f).exists(), "missing {f}");
    }
    for f in ["generator.onnx", "generator.int8.onnx", "generator.tgb"] {
        assert!(run.join("export").join(f).exists(), "missing export/{f}");
    }
    // A second start into the same run directory is refused (no data lost).
    let o = tinygan(&["train", "--run", r, "--device", "cpu", "--data", &data]);
    assert_clean_failure(&o, "already holds a run");
    // --resume --iters must lie beyond the checkpoint; beyond it, the run trains on to it.
    let resume = |iters: &str| {
        tinygan(&[
            "train",
            "--resume",
            "--run",
            r,
            "--iters",
            iters,
            "--device",
            "cpu",
            "--data",
            &data,
            "--no-export",
        ])
    };
    assert_clean_failure(&resume("2"), "already at iteration 2");
    // Checked before the data is looked for (here: none given, so it would be downloaded).
    let o = tinygan(&["train", "--resume", "--run", r, "--iters", "1"]);
    assert_clean_failure(&o, "already at iteration 2");
    assert!(!stderr(&o).contains("download"), "{}", stderr(&o));
    let o = resume("3");
    assert!(o.status.success(), "resume failed: {}", stderr(&o));
    let rows = trainer::report::read_metrics(&run.join("metrics.csv")).unwrap();
    assert_eq!(rows.last().map(|r| r.iter), Some(3));
    let o = tinygan(&[
        "train",
        "--run",
        "elsewhere",
        "--ema",
        "1.5",
        "--device",
        "cpu",
    ]);
    assert_clean_failure(&o, "--ema must be in [0, 1)");
    // Export uses the moving average unless told otherwise.
    let o = tinygan(&["export", "--run", r, "--weights", "trained"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("weights: trained"));
    let o = tinygan(&["export", "--run", r]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("weights: moving average"));

    let idx = dir.path().join("s.idx");
    let o = tinygan(&[
        "sample",
        "--run",
        r,
        "--n",
        "12",
        "--class",
        "3",
        "--out",
        idx.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(idx_header(&idx), [0x0803, 12, 28, 28]);
    assert_eq!(std::fs::metadata(&idx).unwrap().len(), 16 + 12 * 784);
    let png = dir.path().join("s.png");
    let o = tinygan(&[
        "sample",
        "--run",
        r,
        "--n",
        "10",
        "--out",
        png.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    let o = tinygan(&[
        "sample", "--run", r, "--class", "12", "--out", "y.idx", "--device", "cpu",
    ]);
    assert_clean_failure(&o, "--class must be 0..=9");

    // The int8 runtime on the exported blob: the requested class, the IDX layout.
    let blob = run.join("export").join("generator.tgb");
    let b = blob.to_str().unwrap();
    let idx8 = dir.path().join("int8.idx");
    let o = tinygan(&[
        "sample",
        "--blob",
        b,
        "--n",
        "5",
        "--class",
        "7",
        "--out",
        idx8.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(idx_header(&idx8), [0x0803, 5, 28, 28]);
    assert_eq!(std::fs::metadata(&idx8).unwrap().len(), 16 + 5 * 784);
    let o = tinygan(&["sample", "--blob", b, "--class", "10", "--out", "y.idx"]);
    assert_clean_failure(&o, "--class must be 0..=9");
    // A garbled blob is refused with a message, and nothing is written.
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 0x40;
    let bad = dir.path().join("bad.tgb");
    std::fs::write(&bad, &bytes).unwrap();
    let out = dir.path().join("never.idx");
    let o = tinygan(&[
        "sample",
        "--blob",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_clean_failure(&o, "not a valid tinygan blob");
    assert!(!out.exists());
    // Exactly one source.
    let o = tinygan(&["sample", "--run", r, "--blob", b, "--out", "y.idx"]);
    assert_clean_failure(&o, "cannot be used with");
}

/// The same seed gives the same model through the binary too: two runs export byte-identical
/// generators. The exported graph holds the batch-norm running statistics, which Burn keeps per
/// thread: the check fails if the training step moves between threads (see `main.rs`).
#[test]
fn the_seed_determines_the_trained_generator() {
    let data = mnist_dir();
    let dir = tempfile::tempdir().unwrap();
    let export = |name: &str| {
        let run = dir.path().join(name);
        let o = tinygan(&[
            "train",
            "--preset",
            "tiny",
            "--loss",
            "ns-gan",
            "--iters",
            "3",
            "--batch",
            "8",
            "--seed",
            "5",
            "--sample-every",
            "100",
            "--device",
            "cpu",
            "--data",
            &data,
            "--run",
            run.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "train failed: {}", stderr(&o));
        std::fs::read(run.join("export/generator.onnx")).unwrap()
    };
    assert!(export("a") == export("b"), "two runs with seed 5 differ");
}

/// Absurd sizes and wrong kinds of path get one message each, before any work or allocation.
#[test]
fn input_limits_are_refused_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let blob = dir.path().join("none.tgb");
    let b = blob.to_str().unwrap();
    assert_clean_failure(
        &tinygan(&["sample", "--blob", b, "--n", "0", "--out", "x.idx"]),
        "--n must be 1..=1000000",
    );
    assert_clean_failure(
        &tinygan(&["sample", "--blob", b, "--n", "5000", "--out", "x.png"]),
        "--n must be 1..=4096 for a PNG grid",
    );
    assert_clean_failure(
        &tinygan(&["sample", "--blob", b, "--out", d]),
        "is a directory",
    );
    assert_clean_failure(
        &tinygan(&["sample", "--blob", d, "--out", "x.idx"]),
        "cannot read",
    );
    assert_clean_failure(
        &tinygan(&["eval", "--idx", "x.idx", "--n", "1000000000"]),
        "more than the 60000 MNIST training digits",
    );
    // An IDX file whose header promises 2^32 - 1 images (3.4 TB).
    let mut huge = 2051u32.to_be_bytes().to_vec();
    for w in [u32::MAX, 28, 28] {
        huge.extend_from_slice(&w.to_be_bytes());
    }
    huge.extend_from_slice(&[0; 784]);
    let idx = dir.path().join("huge.idx");
    std::fs::write(&idx, &huge).unwrap();
    assert_clean_failure(
        &tinygan(&["eval", "--idx", idx.to_str().unwrap(), "--device", "cpu"]),
        "more than the 2147483648 bytes",
    );
    assert_clean_failure(
        &tinygan(&["eval", "--idx", d, "--device", "cpu"]),
        "cannot read",
    );
    assert_clean_failure(
        &tinygan(&["train", "--resume", "--run", &format!("{d}/missing")]),
        "does not exist",
    );
}

/// One trainer per run directory: while `train` runs, a second `train` or a `--resume` on the
/// same run fails naming the first process; once it is killed (no clean-up), the lock is free.
#[test]
fn a_second_trainer_on_a_run_in_use_is_refused() {
    let data = mnist_dir();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let train = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tinygan"));
        c.arg("train");
        // The model flags only when starting: `--resume` refuses them (the run keeps its own).
        if !extra.contains(&"--resume") {
            c.args(["--preset", "tiny", "--batch", "8"]);
        }
        c.args(["--checkpoint-every", "100000", "--device", "cpu"])
            .args(["--data", &data, "--run", r])
            .args(extra)
            .env_remove("TINYGAN_DATA");
        c
    };
    let mut first = train(&["--iters", "100000"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first trainer holds the lock and has written its config.
    let lock = run.join(".lock");
    let t0 = std::time::Instant::now();
    while !(run.join("config.json").exists()
        && std::fs::read_to_string(&lock).is_ok_and(|s| s.trim() == first.id().to_string()))
    {
        assert!(t0.elapsed().as_secs() < 120, "first trainer did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let who = format!("process {}", first.id());
    assert_clean_failure(&train(&["--iters", "5"]).output().unwrap(), &who);
    assert_clean_failure(&train(&["--resume"]).output().unwrap(), &who);
    first.kill().unwrap(); // SIGKILL: the process cannot release anything itself
    first.wait().unwrap();
    // The kernel dropped the lock with the process, which was killed before its first checkpoint:
    // a resume takes the lock and starts the run again from its saved config.
    let o = train(&["--resume", "--iters", "2", "--no-export"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("finished at iteration 2"),
        "{}",
        stderr(&o)
    );
}

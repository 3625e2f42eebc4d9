//! `kill -9` at any moment: a training run killed with SIGKILL at random moments (in a checkpoint
//! write, a sample grid, a CSV append, the final export, or a training step) and resumed each time
//! ends with exactly the files of an uninterrupted run: the checkpoint's weights, RNG and state
//! bit for bit, the export byte for byte, every sample grid, and a `metrics.csv` with one whole
//! row per iteration.
//!
//! CI kills 6 times; `scripts/kill9.sh` runs the full count (`TINYGAN_KILL9_COUNT`, default 24
//! there) and prints where the kills landed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use trainer::checkpoint::file::Sections;
use trainer::rundir::LOCK_FILE;
use trainer::train::Trainer;

mod common;
use common::{files, flat, mnist_dir, synthetic_digits};

/// `tinygan train` on a small `tiny` run that writes often: a grid every iteration, a checkpoint
/// every third one, then the export.
fn train(data: &str, run: &Path, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tinygan"));
    c.arg("train");
    if resume {
        // As a user continues a run: its own config, its own end.
        c.arg("--resume");
    } else {
        c.args([
            "--preset", "tiny", "--loss", "ns-gan", "--batch", "8", "--seed", "9",
        ])
        .args(["--iters", "24", "--sample-every", "1"])
        .args(["--checkpoint-every", "3"]);
    }
    c.args(["--device", "cpu", "--data", data])
        .arg("--run")
        .arg(run)
        .env_remove("TINYGAN_DATA")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// What the process was writing when it was killed, from the temporary file it left (every
/// write goes through a temporary file) or, failing that, the phase of the run.
fn moment(run: &Path) -> &'static str {
    let leftover = |dir: PathBuf| {
        std::fs::read_dir(dir).into_iter().flatten().find_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.starts_with(export::atomic::TEMP_PREFIX).then_some(())
        })
    };
    if leftover(run.join("export")).is_some() {
        "export write"
    } else if leftover(run.join("samples")).is_some() {
        "sample grid write"
    } else if leftover(run.to_path_buf()).is_some() {
        "checkpoint / config / metrics / plot write"
    } else if !run.join("config.json").exists() {
        "start-up (before the config)"
    } else if run.join("export").exists() {
        "export (between files)"
    } else {
        "training step, CSV append or start-up"
    }
}

/// The metrics log has one complete row per iteration 1..=n, each with as many fields as the
/// header, and ends with a newline (no torn line).
fn check_metrics(run: &Path, n: u64) {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(text.ends_with('\n'), "torn last line");
    let mut lines = text.lines();
    let columns = lines.next().unwrap().split(',').count();
    let mut iters = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), columns, "torn row {line:?}");
        iters.push(fields[0].parse::<u64>().unwrap());
    }
    assert_eq!(
        iters,
        (1..=n).collect::<Vec<_>>(),
        "rows missing or repeated"
    );
}

/// The two runs' checkpoints hold the same state (iteration, RNG, config), running statistics,
/// and bit for bit the same weights: trained and averaged generator, critic.
fn same_checkpoint(a: &Path, b: &Path) {
    let read = |run: &Path| Sections::read(&run.join("checkpoint.tgc")).unwrap();
    let (sa, sb) = (read(a), read(b));
    for section in ["state.json", "running.json"] {
        assert_eq!(sa.0[section], sb.0[section], "{section} differs");
    }
    let dev = Device::flex();
    let load =
        |run: &Path| Trainer::load(&run.join("checkpoint.tgc"), &dev, synthetic_digits(8)).unwrap();
    let (ta, tb) = (load(a), load(b));
    assert!(
        flat(&ta.generator) == flat(&tb.generator),
        "generator weights differ"
    );
    assert!(
        flat(&ta.critic) == flat(&tb.critic),
        "critic weights differ"
    );
    assert!(
        flat(&ta.sampling_generator()) == flat(&tb.sampling_generator()),
        "averaged generator weights differ"
    );
}

#[test]
fn a_run_killed_at_random_moments_resumes_to_the_uninterrupted_files() {
    let kills: usize = std::env::var("TINYGAN_KILL9_COUNT")
        .ok()
        .map(|s| s.parse().expect("TINYGAN_KILL9_COUNT"))
        .unwrap_or(6);
    let data = mnist_dir();
    let tmp = tempfile::tempdir().unwrap();

    let straight = tmp.path().join("straight");
    let t0 = Instant::now();
    let o = train(&data, &straight, false).output().unwrap();
    let whole = t0.elapsed();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let without_lock = |mut f: BTreeMap<PathBuf, Vec<u8>>| {
        f.remove(Path::new(LOCK_FILE));
        f
    };
    let want = without_lock(files(&straight));
    check_metrics(&straight, 24);

    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(
        std::env::var("TINYGAN_KILL9_SEED").map_or(99, |s| s.parse().unwrap()),
    );
    let mut moments: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut killed, mut episodes, mut launches) = (0, 0, 0);
    while killed < kills {
        // One episode: a fresh run, killed and resumed until a launch outlives its kill time.
        episodes += 1;
        let run = tmp.path().join(format!("killed-{episodes}"));
        loop {
            let resume = run.join("config.json").exists();
            let mut child = train(&data, &run, resume).spawn().unwrap();
            launches += 1;
            let kill_at = whole.mul_f64(rng.random_range(0.0..1.0));
            let t = Instant::now();
            let status = loop {
                if let Some(s) = child.try_wait().unwrap() {
                    break Some(s);
                }
                if t.elapsed() >= kill_at {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(2));
            };
            match status {
                None if killed < kills => {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    killed += 1;
                    *moments.entry(moment(&run)).or_default() += 1;
                }
                _ => {
                    let o = child.wait_with_output().unwrap();
                    assert!(
                        o.status.success(),
                        "a resume failed: {}",
                        String::from_utf8_lossy(&o.stderr)
                    );
                    break;
                }
            }
        }
        check_metrics(&run, 24);
        let got = without_lock(files(&run));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "different files (a leftover temporary, or one missing)"
        );
        for (name, bytes) in &want {
            let n = name.to_string_lossy();
            // The loss plot and the metrics carry wall-clock and CPU figures; the checkpoint's
            // model records carry per-process parameter ids (its contents are compared below).
            let own = ["losses.png", "metrics.csv", "checkpoint.tgc"];
            assert!(
                own.iter().any(|o| n.ends_with(o)) || got[name] == *bytes,
                "{n} differs from the uninterrupted run's"
            );
        }
        same_checkpoint(&straight, &run);
    }
    eprintln!(
        "kill9: {killed} kills in {episodes} runs ({launches} launches), uninterrupted run \
         {:.2} s; every run ended with the uninterrupted run's files",
        whole.as_secs_f64()
    );
    for (m, n) in &moments {
        eprintln!("kill9:   {n:>3}  {m}");
    }
}

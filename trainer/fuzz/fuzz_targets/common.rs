//! What both targets share: the file each writes its input to ([`scratch_file`]) and the
//! outcome counters ([`Stats`]): each target counts its outcomes, and with
//! `TINYGAN_FUZZ_STATS=1` the counts are printed on stderr at every power of two and every
//! 100 000 executions (replaying a corpus with `-runs=0` shows what share of it each outcome has).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Outcome counters of one target, named by `names`.
pub struct Stats<const N: usize> {
    names: [&'static str; N],
    counts: [AtomicU64; N],
    execs: AtomicU64,
}

impl<const N: usize> Stats<N> {
    /// Counters for the outcomes `names`.
    pub const fn new(names: [&'static str; N]) -> Self {
        Self {
            names,
            counts: [const { AtomicU64::new(0) }; N],
            execs: AtomicU64::new(0),
        }
    }

    /// Counts one execution with outcome `i` (an index into the names) and reports when due.
    pub fn record(&self, i: usize) {
        self.counts[i].fetch_add(1, Relaxed);
        let n = self.execs.fetch_add(1, Relaxed) + 1;
        static ON: OnceLock<bool> = OnceLock::new();
        if !*ON.get_or_init(|| std::env::var_os("TINYGAN_FUZZ_STATS").is_some()) {
            return;
        }
        if n.is_power_of_two() || n.is_multiple_of(100_000) {
            let parts: Vec<String> = (0..N)
                .map(|k| {
                    let share = 100.0 * self.counts[k].load(Relaxed) as f64 / n as f64;
                    format!("{} {share:.1}%", self.names[k])
                })
                .collect();
            eprintln!("tinygan-stats execs {n}: {}", parts.join(", "));
        }
    }
}

/// The file a fuzzing process rewrites for every input (`tinygan-fuzz-<pid>-<name>` in
/// `/dev/shm`, else the temp dir): the readers under test take paths, as the CLI gives them.
/// libFuzzer ends a process without unwinding, so the file stays; the first call in a process
/// deletes those of processes that are gone.
pub fn scratch_file(name: &str) -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    let dir = if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    };
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(|| {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let file = entry.file_name();
            let pid = file
                .to_str()
                .and_then(|f| f.strip_prefix("tinygan-fuzz-"))
                .and_then(|rest| rest.split('-').next())
                .filter(|pid| pid.parse::<u32>().is_ok());
            if let Some(pid) = pid {
                if !PathBuf::from("/proc").join(pid).exists() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    });
    dir.join(format!("tinygan-fuzz-{}-{name}", std::process::id()))
}

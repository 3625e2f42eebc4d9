//! One trainer per run directory: an advisory lock on `RUN/.lock`, held while a run trains.
//!
//! The lock is the operating system's (`flock` through [`File::try_lock`]), so it ends with the
//! process however that ends: a trainer killed with SIGKILL leaves no stale lock behind. The file
//! itself only says who holds it (the process id), for the message a second trainer prints.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::RunDir;

/// The lock file's name inside a run directory.
pub const LOCK_FILE: &str = ".lock";

/// Proof that this process holds a run directory's lock; the lock is released when it is
/// dropped (or when the process ends).
///
/// ```no_run
/// use trainer::rundir::RunDir;
///
/// let lock = RunDir::new("runs/tiny").lock()?;
/// // A second `lock()` on runs/tiny, from this process or another, now fails with a message
/// // naming this process.
/// assert!(RunDir::new("runs/tiny").lock().is_err());
/// drop(lock);
/// # Ok::<(), anyhow::Error>(())
/// ```
#[derive(Debug)]
pub struct RunLock {
    run: RunDir,
    // Holding the open file holds the lock.
    _file: File,
}

impl RunLock {
    /// Takes the lock of `run`, whose directory must exist. Fails, naming the holder, when another
    /// process (or another `RunLock` in this one) holds it. Leftover temporary files of atomic
    /// writes that a killed process did not finish are deleted once the lock is held.
    pub(super) fn acquire(run: &RunDir) -> anyhow::Result<Self> {
        let path = run.path().join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the run lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_string(),
                    pid => format!("process {pid}"),
                };
                bail!(
                    "{} is in use by another tinygan ({holder} holds {}); wait for it to end, \
                     or choose another --run",
                    run.path().display(),
                    path.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        let mut who = || -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())?;
            file.flush()
        };
        who().with_context(|| format!("cannot write {}", path.display()))?;
        remove_stale_temporaries(run)?;
        Ok(RunLock {
            run: run.clone(),
            _file: file,
        })
    }

    /// The run directory it locks.
    pub fn run(&self) -> &RunDir {
        &self.run
    }

    /// The run directory's path.
    pub fn path(&self) -> &Path {
        self.run.path()
    }
}

/// Deletes the temporary files ([`export::atomic::TEMP_PREFIX`]) that a process killed in the
/// middle of an atomic write left in the run directory, its samples and its export folder. Only
/// called with the lock held, so no writer of this run can be using them.
fn remove_stale_temporaries(run: &RunDir) -> anyhow::Result<()> {
    let dirs: [PathBuf; 3] = [run.path().into(), run.samples(), run.export_dir()];
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let stale = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(export::atomic::TEMP_PREFIX));
            if stale {
                let p = entry.path();
                fs::remove_file(&p)
                    .with_context(|| format!("cannot remove leftover {}", p.display()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let first = run.lock().unwrap();
        let err = format!("{:#}", run.lock().unwrap_err());
        assert!(err.contains("in use by another tinygan"), "{err}");
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        drop(first);
        run.lock().expect("free again once dropped");
    }

    #[test]
    fn leftover_temporaries_are_removed_and_other_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        fs::create_dir_all(run.samples()).unwrap();
        let leftover = run
            .samples()
            .join(format!("{}abc123", export::atomic::TEMP_PREFIX));
        fs::write(&leftover, b"half a png").unwrap();
        fs::write(run.samples().join("iter_0000001.png"), b"png").unwrap();
        let _lock = run.lock().unwrap();
        assert!(!leftover.exists());
        assert!(run.samples().join("iter_0000001.png").exists());
    }

    #[test]
    fn a_missing_run_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = format!(
            "{:#}",
            RunDir::new(dir.path().join("nope")).lock().unwrap_err()
        );
        assert!(err.contains("cannot open the run lock"), "{err}");
    }
}

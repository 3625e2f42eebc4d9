//! The one way tinygan writes a file: a temporary file in the same directory, filled, synced and
//! renamed over the destination (then the directory synced), so that a reader or a crash never
//! sees a half-written file and the previous version survives any failure before the rename.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use tempfile::Builder;

/// The name prefix of the temporary files [`write_atomic_with`] creates. A process killed while
/// writing leaves one behind; whoever owns the directory (a training run holding its lock) may
/// delete files with this prefix.
pub const TEMP_PREFIX: &str = ".tinygan-tmp";

/// Writes `bytes` to `path` atomically (see the module docs).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Writes `path` atomically: `write` fills a buffered temporary file in `path`'s directory, which
/// is flushed, synced and renamed over `path`. On any error the temporary file is removed and
/// `path` is left untouched.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Dropping `tmp` on an early return deletes the temporary file.
    let mut tmp = Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Makes the rename itself durable; not every platform can open a directory, hence best effort.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_old_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_temporary_file_carries_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic_with(&p, |_| {
            let names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names.len(), 1);
            assert!(names[0].starts_with(TEMP_PREFIX), "{names:?}");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn atomic_write_failure_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"old").unwrap();
        let err = write_atomic_with(&p, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("boom"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

//! `metrics.csv`: one row per training iteration, resumable.
//!
//! The file's columns are [`MetricsRow`]'s fields in order: the struct, its column list and its
//! field access come from one list in `metrics_row!`. Hand-written CSV: the values are plain numbers
//! (no quoting), and the `csv` crate (1.4) would turn on a feature of `serde_core` that recompiles
//! Burn's whole dependency tree.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use export::atomic::write_atomic_with;

/// File name of the metrics log inside a run directory.
pub const METRICS_FILE: &str = "metrics.csv";
/// How often [`MetricsCsv::append`] flushes to disk at the latest.
pub const METRICS_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Declares [`MetricsRow`] from its value columns (after `iter`), in file order, with
/// [`METRICS_COLUMNS`] and the row's field access by column: one list for all three.
macro_rules! metrics_row {
    ($($(#[doc = $doc:literal])* $column:ident,)+) => {
        /// One row of `metrics.csv`: the numbers of one training iteration. A field that does not
        /// apply (e.g. `wasserstein` for a non-Wasserstein loss, `g_loss` on an iteration without
        /// a generator step) is `None` and written as an empty field.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct MetricsRow {
            /// Iteration number (1-based count of completed iterations, as the trainer numbers
            /// them).
            pub iter: u64,
            $($(#[doc = $doc])* pub $column: Option<f64>,)+
        }

        /// Columns of `metrics.csv`, in order (its header line, comma-separated).
        pub const METRICS_COLUMNS: &[&str] = &["iter", $(stringify!($column)),+];

        impl MetricsRow {
            /// The value columns (all but `iter`), in file order.
            pub fn values(&self) -> Vec<Option<f64>> {
                vec![$(self.$column),+]
            }

            fn value_mut(&mut self, column: &str) -> Option<&mut Option<f64>> {
                match column {
                    $(stringify!($column) => Some(&mut self.$column),)+
                    _ => None,
                }
            }
        }
    };
}

metrics_row! {
    /// Discriminator (critic) loss.
    d_loss,
    /// Generator loss.
    g_loss,
    /// Wasserstein-distance estimate (WGAN critics: `E[D(real)] - E[D(fake)]`).
    wasserstein,
    /// Share of real samples the discriminator classifies as real, in `[0, 1]`.
    d_acc_real,
    /// Share of fake samples the discriminator classifies as fake, in `[0, 1]`.
    d_acc_fake,
    /// Gradient norm (e.g. of the gradient penalty's interpolates, or of the parameters).
    grad_norm,
    /// Norm of the generator loss's gradient with respect to the generator's parameters.
    g_grad_norm,
    /// Training speed over the recent window, iterations per second.
    iters_per_s,
    /// Seconds since the run started (including earlier sessions of a resumed run).
    elapsed_s,
    /// Process CPU seconds (all threads) spent in training steps since the run started, earlier
    /// sessions included; FCD measurements and sample grids are not counted. Training budgets
    /// are compared in this, so that a busy machine does not bias them.
    cpu_s,
    /// Fréchet classifier distance of generated digits (`tinygan train --eval-every`), on the
    /// iterations where it was measured.
    fcd,
    /// The same FCD for the moving average of the generator's weights (what sampling and export
    /// use), when the run keeps one.
    fcd_ema,
}

impl MetricsRow {
    /// The row as a CSV line (without the newline). Numbers use Rust's shortest round-trip
    /// formatting (exponent notation for very large or small values), so reading back is exact.
    pub fn to_csv_line(&self) -> String {
        let mut line = self.iter.to_string();
        for v in self.values() {
            line.push(',');
            if let Some(v) = v {
                line.push_str(&format!("{v:?}"));
            }
        }
        line
    }
}

/// The header line of `metrics.csv` (without the newline).
pub fn header_line() -> String {
    METRICS_COLUMNS.join(",")
}

/// Parses CSV text with a `metrics.csv` header. Columns are matched by name (unknown ones are
/// ignored, `iter` is required). A final line without a trailing newline that does not parse is a
/// row torn by a crash and is skipped; any other bad line is an error.
fn parse_metrics(text: &str, origin: &Path) -> Result<Vec<MetricsRow>> {
    let mut lines = text.split_inclusive('\n').enumerate();
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let columns: Vec<&str> = header.trim_end().split(',').map(str::trim).collect();
    let iter_col = columns.iter().position(|&c| c == "iter").ok_or_else(|| {
        anyhow!(
            "{}: header has no `iter` column: {header:?}",
            origin.display()
        )
    })?;
    let mut rows = Vec::new();
    for (index, raw) in lines {
        let complete = raw.ends_with('\n');
        let line = raw.trim_end();
        if line.is_empty() {
            continue;
        }
        match parse_row(line, &columns, iter_col) {
            Ok(row) => rows.push(row),
            Err(_) if !complete => break,
            Err(e) => bail!("{}: line {}: {e}: {line:?}", origin.display(), index + 1),
        }
    }
    Ok(rows)
}

fn parse_row(line: &str, columns: &[&str], iter_col: usize) -> Result<MetricsRow> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    ensure!(
        fields.len() == columns.len(),
        "{} fields, header has {}",
        fields.len(),
        columns.len()
    );
    let mut row = MetricsRow {
        iter: fields[iter_col]
            .parse()
            .with_context(|| format!("bad iter {:?}", fields[iter_col]))?,
        ..MetricsRow::default()
    };
    for (column, field) in columns.iter().zip(&fields) {
        if let Some(slot) = row.value_mut(column)
            && !field.is_empty()
        {
            *slot = Some(
                field
                    .parse()
                    .with_context(|| format!("bad {column} value {field:?}"))?,
            );
        }
    }
    Ok(row)
}

/// Reads a `metrics.csv` written by [`MetricsCsv`] (for plotting, or to inspect a run).
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_metrics(&text, path)
}

/// Appends one row per iteration to `metrics.csv` in a run directory. Rows are buffered and
/// flushed at least every [`METRICS_FLUSH_INTERVAL`], on [`MetricsCsv::flush`], and when dropped,
/// so `tail -f metrics.csv` follows a run live.
#[derive(Debug)]
pub struct MetricsCsv {
    path: PathBuf,
    writer: BufWriter<File>,
    last_flush: Instant,
    elapsed_before: f64,
    cpu_before: f64,
}

impl MetricsCsv {
    /// Starts a fresh `metrics.csv` in `run_dir` (created if needed), replacing any old one, with
    /// its header line.
    pub fn create(run_dir: &Path) -> Result<Self> {
        fs::create_dir_all(run_dir)
            .with_context(|| format!("cannot create run directory {}", run_dir.display()))?;
        let path = run_dir.join(METRICS_FILE);
        write_atomic_with(&path, |w| writeln!(w, "{}", header_line()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Self::open_append(path)
    }

    /// Reopens `metrics.csv` in `run_dir` to continue a run resumed from a checkpoint taken at
    /// iteration `resumed_iter`: rows with `iter > resumed_iter` (written after that checkpoint by
    /// the interrupted session) and a row torn by a crash are dropped first, so no iteration
    /// appears twice, then new rows are appended. A missing file is created as by
    /// [`MetricsCsv::create`].
    pub fn resume(run_dir: &Path, resumed_iter: u64) -> Result<Self> {
        let path = run_dir.join(METRICS_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Self::create(run_dir),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        // Columns are matched by name, so a log from an older tinygan (fewer columns) is read
        // and rewritten with the current header; the new columns stay empty in its old rows.
        let kept: Vec<MetricsRow> = parse_metrics(&text, &path)?
            .into_iter()
            .filter(|r| r.iter <= resumed_iter)
            .collect();
        write_atomic_with(&path, |w| {
            writeln!(w, "{}", header_line())?;
            for row in &kept {
                writeln!(w, "{}", row.to_csv_line())?;
            }
            Ok(())
        })
        .with_context(|| format!("cannot rewrite {}", path.display()))?;
        let mut csv = Self::open_append(path)?;
        csv.elapsed_before = kept.iter().rev().find_map(|r| r.elapsed_s).unwrap_or(0.0);
        csv.cpu_before = kept.iter().rev().find_map(|r| r.cpu_s).unwrap_or(0.0);
        Ok(csv)
    }

    /// Training time already logged before this session (the last kept row's `elapsed_s` after
    /// [`MetricsCsv::resume`], else 0): a resumed run adds its own time to it, so `elapsed_s`
    /// is the run's total training time, comparable between interrupted and uninterrupted runs.
    pub fn elapsed_before(&self) -> f64 {
        self.elapsed_before
    }

    /// Training CPU time already logged before this session (as [`MetricsCsv::elapsed_before`],
    /// for `cpu_s`).
    pub fn cpu_before(&self) -> f64 {
        self.cpu_before
    }

    /// [`MetricsCsv::resume`] from `iter` when `resume_from` is `Some(iter)`, else
    /// [`MetricsCsv::create`].
    pub fn open(run_dir: &Path, resume_from: Option<u64>) -> Result<Self> {
        match resume_from {
            Some(iter) => Self::resume(run_dir, iter),
            None => Self::create(run_dir),
        }
    }

    fn open_append(path: PathBuf) -> Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {} for appending", path.display()))?;
        Ok(Self {
            path,
            writer: BufWriter::new(file),
            last_flush: Instant::now(),
            elapsed_before: 0.0,
            cpu_before: 0.0,
        })
    }

    /// Path of the CSV file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one row; flushes if the last flush is [`METRICS_FLUSH_INTERVAL`] old.
    pub fn append(&mut self, row: &MetricsRow) -> Result<()> {
        writeln!(self.writer, "{}", row.to_csv_line())
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        if self.last_flush.elapsed() >= METRICS_FLUSH_INTERVAL {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes buffered rows to the file now.
    pub fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        self.writer
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

impl Drop for MetricsCsv {
    fn drop(&mut self) {
        let _ = self.writer.flush();
    }
}

// ---------------------------------------------------------------------------------------------
// Images: sample grids, scatter plots, GIF
// ---------------------------------------------------------------------------------------------

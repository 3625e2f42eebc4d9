//! `metrics.csv`: one row per training iteration, written and read through the `csv` crate from
//! one serde struct, [`MetricsRow`], whose fields are the file's columns in order.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use export::atomic::write_atomic_with;
use serde::{Deserialize, Serialize};

/// File name of the metrics log inside a run directory.
pub const METRICS_FILE: &str = "metrics.csv";
/// How often [`MetricsCsv::append`] flushes to disk at the latest.
pub const METRICS_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// One row of `metrics.csv`: the numbers of one training iteration. A field that does not apply
/// (e.g. `wasserstein` for a non-Wasserstein loss, `g_loss` on an iteration without a generator
/// step) is `None` and written as an empty field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    /// Iteration number (1-based count of completed iterations, as the trainer numbers them).
    pub iter: u64,
    /// Discriminator (critic) loss.
    pub d_loss: Option<f64>,
    /// Generator loss.
    pub g_loss: Option<f64>,
    /// Wasserstein-distance estimate (WGAN critics: `E[D(real)] - E[D(fake)]`).
    pub wasserstein: Option<f64>,
    /// Share of real samples the discriminator classifies as real, in `[0, 1]`.
    pub d_acc_real: Option<f64>,
    /// Share of fake samples the discriminator classifies as fake, in `[0, 1]`.
    pub d_acc_fake: Option<f64>,
    /// Gradient norm (e.g. of the gradient penalty's interpolates, or of the parameters).
    pub grad_norm: Option<f64>,
    /// Norm of the generator loss's gradient with respect to the generator's parameters.
    pub g_grad_norm: Option<f64>,
    /// Training speed over the recent window, iterations per second.
    pub iters_per_s: Option<f64>,
    /// Seconds since the run started (including earlier sessions of a resumed run).
    pub elapsed_s: Option<f64>,
    /// Process CPU seconds (all threads) spent in training steps since the run started, earlier
    /// sessions included; FCD measurements and sample grids are not counted. Training budgets
    /// are compared in this, so that a busy machine does not bias them.
    pub cpu_s: Option<f64>,
    /// Fréchet classifier distance of generated digits (`tinygan train --eval-every`), on the
    /// iterations where it was measured.
    pub fcd: Option<f64>,
    /// The same FCD for the moving average of the generator's weights (what sampling and export
    /// use), when the run keeps one.
    pub fcd_ema: Option<f64>,
}

impl MetricsRow {
    /// The row as a CSV line (without the newline). Numbers use the shortest round-trip
    /// formatting (exponent notation for very large or small values), so reading back is exact.
    pub fn to_csv_line(&self) -> String {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        // Writing numbers into memory cannot fail.
        let _ = w.serialize(self);
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8_lossy(&bytes).trim_end().to_string()
    }
}

/// The header line of `metrics.csv` (without the newline): [`MetricsRow`]'s field names, which
/// csv writes before the first row serialised with headers on.
pub fn header_line() -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing numbers into memory cannot fail.
    let _ = w.serialize(MetricsRow::default());
    let bytes = w.into_inner().unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    text.lines().next().unwrap_or_default().to_string()
}

/// Parses CSV text with a `metrics.csv` header. Columns are matched by name (unknown ones are
/// ignored, `iter` is required). A final line without a trailing newline that does not parse is a
/// row torn by a crash and is skipped; any other bad line is an error.
fn parse_metrics(text: &str, origin: &Path) -> Result<Vec<MetricsRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .with_context(|| format!("{}: unreadable header", origin.display()))?
        .clone();
    if header.is_empty() {
        return Ok(Vec::new());
    }
    ensure!(
        header.iter().any(|c| c == "iter"),
        "{}: header has no `iter` column: {:?}",
        origin.display(),
        header.iter().collect::<Vec<_>>().join(",")
    );
    let records = reader
        .records()
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot parse {}", origin.display()))?;
    let torn_tail = !text.ends_with('\n');
    let mut rows = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        match parse_row(record, &header) {
            Ok(row) => rows.push(row),
            Err(_) if torn_tail && i + 1 == records.len() => break,
            Err(e) => {
                let line = record.position().map_or(0, |p| p.line());
                let fields = record.iter().collect::<Vec<_>>().join(",");
                bail!("{}: line {line}: {e}: {fields:?}", origin.display())
            }
        }
    }
    Ok(rows)
}

fn parse_row(record: &csv::StringRecord, header: &csv::StringRecord) -> Result<MetricsRow> {
    ensure!(
        record.len() == header.len(),
        "{} fields, header has {}",
        record.len(),
        header.len()
    );
    record.deserialize(Some(header)).map_err(|e| {
        let field = match e.kind() {
            csv::ErrorKind::Deserialize { err, .. } => err.field(),
            _ => None,
        };
        let field = field.and_then(|i| usize::try_from(i).ok());
        match field.and_then(|i| Some((header.get(i)?, record.get(i)?))) {
            Some((column, value)) => anyhow!("bad {column} value {value:?}: {e}"),
            None => anyhow!("{e}"),
        }
    })
}

/// Reads a `metrics.csv` written by [`MetricsCsv`] (for plotting, or to inspect a run).
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_metrics(&text, path)
}

/// Writes the header and `rows` as a whole new `metrics.csv` at `path`, atomically.
fn rewrite(path: &Path, rows: &[MetricsRow]) -> io::Result<()> {
    write_atomic_with(path, |w| {
        writeln!(w, "{}", header_line())?;
        let mut csv = csv::WriterBuilder::new().has_headers(false).from_writer(w);
        for row in rows {
            csv.serialize(row)?;
        }
        csv.flush()
    })
}

/// Appends one row per iteration to `metrics.csv` in a run directory. Rows are buffered and
/// flushed at least every [`METRICS_FLUSH_INTERVAL`], on [`MetricsCsv::flush`], and when dropped
/// (by the csv writer), so `tail -f metrics.csv` follows a run live.
#[derive(Debug)]
pub struct MetricsCsv {
    path: PathBuf,
    writer: csv::Writer<File>,
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
        rewrite(&path, &[]).with_context(|| format!("cannot write {}", path.display()))?;
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
        rewrite(&path, &kept).with_context(|| format!("cannot rewrite {}", path.display()))?;
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
            writer: csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(file),
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
        self.writer
            .serialize(row)
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

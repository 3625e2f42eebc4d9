//! What a training run leaves behind for a person to watch and trust: `metrics.csv` (one row per
//! iteration, resumable), sample grids as PNG, scatter plots for the 2-D toy set, an animated GIF
//! of the grids, and loss curves.
//!
//! Every file is written atomically (temporary file + rename, see
//! [`crate::data::write_atomically`]), so a viewer refreshing it mid-run never sees half an image.
//! Plots use plotters with an embedded DejaVu Sans font (`assets/DejaVuSans.ttf`), so no system
//! font is needed. Nothing here depends on Burn.

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use image::{GrayImage, ImageEncoder, Luma};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE, signed_to_pixel, write_atomically};

// ---------------------------------------------------------------------------------------------
// metrics.csv
// ---------------------------------------------------------------------------------------------

/// File name of the metrics log inside a run directory.
pub const METRICS_FILE: &str = "metrics.csv";
/// Columns of `metrics.csv`, in order (its header line, comma-separated).
pub const METRICS_COLUMNS: [&str; 13] = [
    "iter",
    "d_loss",
    "g_loss",
    "wasserstein",
    "d_acc_real",
    "d_acc_fake",
    "grad_norm",
    "g_grad_norm",
    "iters_per_s",
    "elapsed_s",
    "cpu_s",
    "fcd",
    "fcd_ema",
];
/// How often [`MetricsCsv::append`] flushes to disk at the latest.
pub const METRICS_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// One row of `metrics.csv`: the numbers of one training iteration. A field that does not apply
/// (e.g. `wasserstein` for a non-Wasserstein loss, `g_loss` on an iteration without a generator
/// step) is `None` and written as an empty field.
#[derive(Debug, Clone, Default, PartialEq)]
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
    fn values(&self) -> [Option<f64>; 12] {
        [
            self.d_loss,
            self.g_loss,
            self.wasserstein,
            self.d_acc_real,
            self.d_acc_fake,
            self.grad_norm,
            self.g_grad_norm,
            self.iters_per_s,
            self.elapsed_s,
            self.cpu_s,
            self.fcd,
            self.fcd_ema,
        ]
    }

    fn value_mut(&mut self, column: &str) -> Option<&mut Option<f64>> {
        Some(match column {
            "d_loss" => &mut self.d_loss,
            "g_loss" => &mut self.g_loss,
            "wasserstein" => &mut self.wasserstein,
            "d_acc_real" => &mut self.d_acc_real,
            "d_acc_fake" => &mut self.d_acc_fake,
            "grad_norm" => &mut self.grad_norm,
            "g_grad_norm" => &mut self.g_grad_norm,
            "iters_per_s" => &mut self.iters_per_s,
            "elapsed_s" => &mut self.elapsed_s,
            "cpu_s" => &mut self.cpu_s,
            "fcd" => &mut self.fcd,
            "fcd_ema" => &mut self.fcd_ema,
            _ => return None,
        })
    }

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

fn header_line() -> String {
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
        write_atomically(&path, |w| writeln!(w, "{}", header_line()))
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
        write_atomically(&path, |w| {
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

/// Grey level of the gutter between digits in a grid (digits are white on black).
pub const GRID_GUTTER_GREY: u8 = 96;
/// Upscaling factor of [`save_grid_png`].
pub const GRID_SCALE: u32 = 2;

/// Lays out `n` 28 × 28 images (`images.len() == n × 784`, values in `[-1, 1]`, row-major) in a
/// grid of `cols` columns with a 1-pixel grey gutter around every image, each pixel upscaled to
/// `scale × scale`. Size: `(cols·29 + 1)·scale × (rows·29 + 1)·scale` with `rows = ⌈n / cols⌉`.
/// Values outside `[-1, 1]` are clamped, NaN is drawn black.
pub fn grid_image(images: &[f32], n: usize, cols: usize, scale: u32) -> Result<GrayImage> {
    ensure!(
        n > 0 && cols > 0 && scale > 0,
        "grid of {n} images in {cols} columns at scale {scale}"
    );
    ensure!(
        images.len() == n * IMAGE_PIXELS,
        "grid: {} values is not {n} images of 28x28",
        images.len()
    );
    let cols = cols.min(n);
    let rows = n.div_ceil(cols);
    let cell = IMAGE_SIDE + 1;
    let (w, h) = ((cols * cell + 1) as u32, (rows * cell + 1) as u32);
    let mut grid = GrayImage::from_pixel(w, h, Luma([GRID_GUTTER_GREY]));
    for (i, img) in images.chunks_exact(IMAGE_PIXELS).enumerate() {
        let (x0, y0) = ((i % cols) * cell + 1, (i / cols) * cell + 1);
        for (p, &v) in img.iter().enumerate() {
            let (x, y) = (x0 + p % IMAGE_SIDE, y0 + p / IMAGE_SIDE);
            grid.put_pixel(x as u32, y as u32, Luma([signed_to_pixel(v)]));
        }
    }
    if scale == 1 {
        return Ok(grid);
    }
    Ok(GrayImage::from_fn(w * scale, h * scale, |x, y| {
        *grid.get_pixel(x / scale, y / scale)
    }))
}

/// Saves `n` generated digits (`n × 28 × 28` values in `[-1, 1]`) as a greyscale PNG grid of
/// `cols` columns, upscaled [`GRID_SCALE`]× (see [`grid_image`]), atomically.
pub fn save_grid_png(path: &Path, images: &[f32], n: usize, cols: usize) -> Result<()> {
    let grid = grid_image(images, n, cols, GRID_SCALE)?;
    save_gray_png(path, &grid)
}

/// Saves a greyscale image as PNG, atomically.
pub fn save_gray_png(path: &Path, image: &GrayImage) -> Result<()> {
    save_png(
        path,
        image.as_raw(),
        image.width(),
        image.height(),
        image::ExtendedColorType::L8,
    )
}

fn save_png(
    path: &Path,
    buf: &[u8],
    w: u32,
    h: u32,
    color: image::ExtendedColorType,
) -> Result<()> {
    write_atomically(path, |out| {
        image::codecs::png::PngEncoder::new(out)
            .write_image(buf, w, h, color)
            .map_err(io::Error::other)
    })
    .with_context(|| format!("cannot write {}", path.display()))
}

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the embedded DejaVu Sans as plotters' "sans-serif" (once per process).
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    if *REGISTERED.get_or_init(|| register_font("sans-serif", FontStyle::Normal, FONT).is_ok()) {
        Ok(())
    } else {
        bail!("the embedded font assets/DejaVuSans.ttf is not a valid font")
    }
}

fn plot_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("plotting failed: {e}")
}

/// Draws on a white `w × h` RGB canvas and returns its pixels.
fn render_rgb(
    w: u32,
    h: u32,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    ensure_font()?;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

fn render_png(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<()> {
    let buf = render_rgb(w, h, draw)?;
    save_png(path, &buf, w, h, image::ExtendedColorType::Rgb8)
}

/// One curve (or, with `points_only`, one scatter) of [`plot_xy`].
#[derive(Clone, Debug)]
pub struct XySeries {
    /// Legend label.
    pub name: String,
    /// Colour as RGB.
    pub color: (u8, u8, u8),
    /// Points in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Draw dots instead of a line.
    pub points_only: bool,
}

/// Plots `series` in one panel (`640 × 440` px) with a legend, as a PNG written atomically: the
/// general-purpose figure of the experiments report. Non-finite points are skipped; the axes span
/// all points with a small margin.
///
/// ```no_run
/// use trainer::report::{XySeries, plot_xy};
/// let s = XySeries {
///     name: "x²".into(),
///     color: (31, 119, 180),
///     points: (0..10).map(|i| (i as f64, (i * i) as f64)).collect(),
///     points_only: false,
/// };
/// plot_xy(std::path::Path::new("square.png"), "Squares", "x", "y", &[s]).unwrap();
/// ```
pub fn plot_xy(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[XySeries],
) -> Result<()> {
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    ensure!(!all.is_empty(), "nothing to plot for {}", path.display());
    let span = |v: Vec<f64>| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = if hi > lo { (hi - lo) * 0.05 } else { 1.0 };
        (lo - pad)..(hi + pad)
    };
    let xr = span(all.iter().map(|p| p.0).collect());
    let yr = span(all.iter().map(|p| p.1).collect());
    render_png(path, (640, 440), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .margin_right(25)
            .x_label_area_size(38)
            .y_label_area_size(60)
            .build_cartesian_2d(xr, yr)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(RGBColor(242, 242, 242))
            .bold_line_style(RGBColor(215, 215, 215))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        for s in series {
            let c = RGBColor(s.color.0, s.color.1, s.color.2);
            let pts = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite());
            let drawn = if s.points_only {
                chart
                    .draw_series(pts.map(|p| Circle::new(p, 3, c.filled())))
                    .map_err(plot_err)?
            } else {
                chart
                    .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                    .map_err(plot_err)?
            };
            drawn.label(s.name.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
            });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(plot_err)?;
        Ok(())
    })
}

/// Size of the scatter plots of [`save_scatter_png`], in pixels.
pub const SCATTER_SIZE: (u32, u32) = (640, 640);

/// Saves a scatter plot of 2-D points (`n × 2` values `x0, y0, x1, …`, e.g. generated
/// `gaussians8` samples) with the given mode `centers` marked as red crosses, titled `title`
/// (e.g. `"iteration 5000"`), as a PNG, atomically. The square axes span the centers with a
/// margin, widened for points further out (up to 10× the centers' extent); points beyond are
/// not drawn, and non-finite points are skipped.
pub fn save_scatter_png(
    path: &Path,
    points: &[f32],
    centers: &[[f32; 2]],
    title: &str,
) -> Result<()> {
    let finite: Vec<(f64, f64)> = points
        .chunks_exact(2)
        .filter(|p| p[0].is_finite() && p[1].is_finite())
        .map(|p| (f64::from(p[0]), f64::from(p[1])))
        .collect();
    let center_extent = centers
        .iter()
        .flat_map(|c| c.iter())
        .fold(1.0f64, |m, &v| m.max(f64::from(v).abs()));
    let mut abs: Vec<f64> = finite.iter().map(|&(x, y)| x.abs().max(y.abs())).collect();
    let point_extent = percentile(&mut abs, 0.99).unwrap_or(0.0);
    let lim = (center_extent * 1.5).max((point_extent * 1.1).min(center_extent * 10.0));
    let shown: Vec<(f64, f64)> = finite
        .iter()
        .copied()
        .filter(|&(x, y)| x.abs() <= lim && y.abs() <= lim)
        .collect();
    let n_total = points.len() / 2;
    render_png(path, SCATTER_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(-lim..lim, -lim..lim)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("x")
            .y_desc("y")
            .light_line_style(RGBColor(242, 242, 242))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(
                centers.iter().map(|c| {
                    Cross::new((f64::from(c[0]), f64::from(c[1])), 9, RED.stroke_width(1))
                }),
            )
            .map_err(plot_err)?
            .label("mode centers")
            .legend(|(x, y)| Cross::new((x + 8, y), 5, RED.stroke_width(2)));
        let blue = RGBColor(31, 119, 180);
        chart
            .draw_series(
                shown
                    .iter()
                    .map(|&p| Circle::new(p, 2, blue.mix(0.35).filled())),
            )
            .map_err(plot_err)?
            .label(format!("samples ({} of {n_total} shown)", shown.len()))
            .legend(move |(x, y)| Circle::new((x + 8, y), 3, blue.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        Ok(())
    })
}

/// Height in pixels of the label strip [`save_gif`] adds above each frame.
pub const GIF_LABEL_HEIGHT: u32 = 20;

/// Renders `label` in white on a black `w × GIF_LABEL_HEIGHT` strip (greyscale).
fn label_strip(label: &str, w: u32) -> Result<Vec<u8>> {
    let h = GIF_LABEL_HEIGHT;
    let rgb = render_rgb(w, h, |root| {
        root.fill(&BLACK).map_err(plot_err)?;
        let style = ("sans-serif", 15).into_font().color(&WHITE);
        root.draw_text(label, &style, (4, 2)).map_err(plot_err)?;
        Ok(())
    })?;
    Ok(rgb.chunks_exact(3).map(|px| px[0]).collect())
}

/// Saves an animated, looping GIF of greyscale `frames` (e.g. the sample grids of successive
/// checkpoints), each shown `delay_cs` hundredths of a second, atomically. If `labels` is not
/// empty it must hold one label per frame, drawn in a black strip above the frame (e.g.
/// `"iter 5000"`). Frames of different sizes are placed top-left on a canvas of the largest size.
pub fn save_gif(path: &Path, frames: &[GrayImage], labels: &[String], delay_cs: u16) -> Result<()> {
    ensure!(!frames.is_empty(), "GIF {}: no frames", path.display());
    ensure!(
        labels.is_empty() || labels.len() == frames.len(),
        "GIF {}: {} labels for {} frames",
        path.display(),
        labels.len(),
        frames.len()
    );
    let w = frames.iter().map(|f| f.width()).max().unwrap_or(1);
    let strip = if labels.is_empty() {
        0
    } else {
        GIF_LABEL_HEIGHT
    };
    let h = frames.iter().map(|f| f.height()).max().unwrap_or(1) + strip;
    let (w16, h16) = (u16::try_from(w), u16::try_from(h));
    let (Ok(w16), Ok(h16)) = (w16, h16) else {
        bail!("GIF {}: frames of {w}x{h} are too large", path.display());
    };
    let mut canvases = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let mut canvas = vec![0u8; (w * h) as usize];
        if let Some(label) = labels.get(i) {
            canvas[..(w * strip) as usize].copy_from_slice(&label_strip(label, w)?);
        }
        for (y, row) in frame
            .as_raw()
            .chunks_exact(frame.width() as usize)
            .enumerate()
        {
            let at = ((y as u32 + strip) * w) as usize;
            canvas[at..at + row.len()].copy_from_slice(row);
        }
        canvases.push(canvas);
    }
    let palette: Vec<u8> = (0..=255u8).flat_map(|g| [g, g, g]).collect();
    write_atomically(path, |out| {
        let mut enc = gif::Encoder::new(out, w16, h16, &palette).map_err(io::Error::other)?;
        enc.set_repeat(gif::Repeat::Infinite)
            .map_err(io::Error::other)?;
        for canvas in &canvases {
            let frame = gif::Frame {
                width: w16,
                height: h16,
                delay: delay_cs,
                buffer: Cow::Borrowed(canvas),
                ..gif::Frame::default()
            };
            enc.write_frame(&frame).map_err(io::Error::other)?;
        }
        enc.into_inner()?;
        Ok(())
    })
    .with_context(|| format!("cannot write {}", path.display()))
}

/// Label for a frame read from `path`: `"iter N"` if the file stem ends in digits
/// (`samples_005000.png` → `iter 5000`), else the stem.
fn label_from_path(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let digits = stem.len() - stem.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    match stem[stem.len() - digits..].parse::<u64>() {
        Ok(n) if digits > 0 => format!("iter {n}"),
        _ => stem,
    }
}

/// [`save_gif`] of PNG files (read back and converted to greyscale), each labelled from its file
/// name (`samples_005000.png` → `iter 5000`).
pub fn save_gif_from_pngs(path: &Path, pngs: &[PathBuf], delay_cs: u16) -> Result<()> {
    let frames = pngs
        .iter()
        .map(|p| {
            image::open(p)
                .map(|img| img.into_luma8())
                .with_context(|| format!("cannot read frame {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let labels: Vec<String> = pngs.iter().map(|p| label_from_path(p)).collect();
    save_gif(path, &frames, &labels, delay_cs)
}

// ---------------------------------------------------------------------------------------------
// Loss curves
// ---------------------------------------------------------------------------------------------

/// Width of the loss plot of [`plot_losses`], in pixels.
pub const PLOT_WIDTH: u32 = 1000;
/// Height of each panel of the loss plot of [`plot_losses`], in pixels.
pub const PLOT_PANEL_HEIGHT: u32 = 340;
/// At most this many points of a series are drawn (longer ones are thinned evenly).
const MAX_PLOT_POINTS: usize = 4000;

/// The `q`-quantile (`0..=1`) of `values` (reordered in place); `None` when empty.
fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let k = ((values.len() - 1) as f64 * q).round() as usize;
    let (_, v, _) = values.select_nth_unstable_by(k, f64::total_cmp);
    Some(*v)
}

/// Trailing moving average over `window` points.
fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let mut sum = 0.0;
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| {
            sum += y;
            if i >= window {
                sum -= points[i - window].1;
            }
            (x, sum / (i + 1).min(window) as f64)
        })
        .collect()
}

fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_PLOT_POINTS {
        return points;
    }
    let step = points.len().div_ceil(MAX_PLOT_POINTS);
    let last = points.len() - 1;
    points
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| i.is_multiple_of(step) || i == last)
        .map(|(_, p)| p)
        .collect()
}

struct Series {
    name: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

struct Panel {
    title: &'static str,
    y_desc: &'static str,
    fixed_range: Option<(f64, f64)>,
    series: Vec<Series>,
}

fn series(
    metrics: &[MetricsRow],
    name: &'static str,
    color: RGBColor,
    get: fn(&MetricsRow) -> Option<f64>,
) -> Series {
    let points = metrics
        .iter()
        .filter_map(|r| get(r).filter(|v| v.is_finite()).map(|v| (r.iter as f64, v)))
        .collect();
    Series {
        name,
        color,
        points,
    }
}

/// Plots the run's curves as a PNG (atomically): a panel of D and G loss vs iteration, plus a
/// panel of the Wasserstein estimate when any row has one, plus a panel of the discriminator's
/// accuracy on real and fake samples when any row has it. Each series is drawn faint as
/// recorded and solid as a trailing moving average (window ≈ 1/50 of the rows). The y axis spans
/// the 1st–99th percentile of the values so early spikes do not flatten the curves (values outside
/// are drawn at the edge). Non-finite values are skipped.
pub fn plot_losses(metrics: &[MetricsRow], path: &Path) -> Result<()> {
    let red = RGBColor(214, 39, 40);
    let blue = RGBColor(31, 119, 180);
    let green = RGBColor(44, 160, 44);
    let purple = RGBColor(148, 103, 189);
    let orange = RGBColor(255, 127, 14);
    let mut panels = vec![Panel {
        title: "Losses",
        y_desc: "loss",
        fixed_range: None,
        series: vec![
            series(metrics, "D loss", red, |r| r.d_loss),
            series(metrics, "G loss", blue, |r| r.g_loss),
        ],
    }];
    let wasserstein = series(metrics, "Wasserstein estimate", green, |r| r.wasserstein);
    if !wasserstein.points.is_empty() {
        panels.push(Panel {
            title: "Critic's Wasserstein estimate",
            y_desc: "E[D(real)] - E[D(fake)]",
            fixed_range: None,
            series: vec![wasserstein],
        });
    }
    let fcd = [
        series(metrics, "FCD, trained weights", RGBColor(0, 0, 0), |r| {
            r.fcd
        }),
        series(metrics, "FCD, moving average", RGBColor(200, 30, 30), |r| {
            r.fcd_ema
        }),
    ];
    if fcd.iter().any(|s| !s.points.is_empty()) {
        panels.push(Panel {
            title: "Sample quality (Fréchet classifier distance, lower is better)",
            y_desc: "FCD",
            fixed_range: None,
            series: fcd.into_iter().filter(|s| !s.points.is_empty()).collect(),
        });
    }
    let acc = vec![
        series(metrics, "D accuracy on real", purple, |r| r.d_acc_real),
        series(metrics, "D accuracy on fake", orange, |r| r.d_acc_fake),
    ];
    if acc.iter().any(|s| !s.points.is_empty()) {
        panels.push(Panel {
            title: "Discriminator accuracy",
            y_desc: "accuracy",
            fixed_range: Some((0.0, 1.0)),
            series: acc,
        });
    }
    ensure!(
        panels
            .iter()
            .flat_map(|p| &p.series)
            .any(|s| !s.points.is_empty()),
        "no metrics to plot for {}",
        path.display()
    );
    let iters = metrics.iter().map(|r| r.iter as f64);
    let x0 = iters.clone().fold(f64::INFINITY, f64::min);
    let x1 = iters.fold(f64::NEG_INFINITY, f64::max).max(x0 + 1.0);
    let height = PLOT_PANEL_HEIGHT * panels.len() as u32;
    render_png(path, (PLOT_WIDTH, height), |root| {
        let areas = root.split_evenly((panels.len(), 1));
        for (panel, area) in panels.iter().zip(&areas) {
            draw_panel(area, panel, x0..x1)?;
        }
        Ok(())
    })
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    panel: &Panel,
    x_range: std::ops::Range<f64>,
) -> Result<()> {
    let (y0, y1) = panel.fixed_range.unwrap_or_else(|| {
        let mut all: Vec<f64> = panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .collect();
        let (lo_q, hi_q) = if all.len() >= 100 {
            (0.01, 0.99)
        } else {
            (0.0, 1.0)
        };
        let lo = percentile(&mut all, lo_q).unwrap_or(0.0);
        let hi = percentile(&mut all, hi_q).unwrap_or(1.0);
        let pad = if hi > lo { (hi - lo) * 0.08 } else { 1.0 };
        (lo - pad, hi + pad)
    });
    let clamp = |(x, y): (f64, f64)| (x, y.clamp(y0, y1));
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 20))
        .margin(10)
        .margin_right(30)
        .x_label_area_size(38)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range, y0..y1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("iteration")
        .y_desc(panel.y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(215, 215, 215))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(plot_err)?;
    let mut any = false;
    for s in panel.series.iter().filter(|s| !s.points.is_empty()) {
        any = true;
        let window = (s.points.len() / 50).max(1);
        let color = s.color;
        if window > 1 {
            let raw = thin(s.points.iter().copied().map(clamp).collect());
            chart
                .draw_series(LineSeries::new(raw, color.mix(0.25)))
                .map_err(plot_err)?;
        }
        let smooth = thin(
            moving_average(&s.points, window)
                .into_iter()
                .map(clamp)
                .collect(),
        );
        let label = if window > 1 {
            format!("{} (avg of {window})", s.name)
        } else {
            s.name.to_string()
        };
        chart
            .draw_series(LineSeries::new(smooth, color.stroke_width(2)))
            .map_err(plot_err)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    if any {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(iter: u64) -> MetricsRow {
        MetricsRow {
            iter,
            d_loss: Some(1.0 / (iter as f64 + 1.0)),
            g_loss: Some(0.5 + iter as f64 * 1e-3),
            wasserstein: if iter.is_multiple_of(2) {
                Some(-1.25e-7)
            } else {
                None
            },
            d_acc_real: Some(0.75),
            d_acc_fake: None,
            grad_norm: Some(f64::NAN),
            g_grad_norm: Some(0.25),
            iters_per_s: Some(123.456),
            elapsed_s: Some(iter as f64 * 0.1),
            cpu_s: Some(iter as f64 * 0.15),
            fcd: iter.is_multiple_of(3).then_some(12.5 / (iter as f64 + 1.0)),
            fcd_ema: iter.is_multiple_of(3).then_some(11.5 / (iter as f64 + 1.0)),
        }
    }

    fn same(a: &MetricsRow, b: &MetricsRow) -> bool {
        // NaN-aware comparison.
        a.iter == b.iter
            && a.values()
                .iter()
                .zip(b.values())
                .all(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) => x == &y || (x.is_nan() && y.is_nan()),
                    (None, None) => true,
                    _ => false,
                })
    }

    #[test]
    fn csv_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<MetricsRow> = (1..=50).map(row).collect();
        {
            let mut csv = MetricsCsv::create(dir.path()).unwrap();
            for r in &rows {
                csv.append(r).unwrap();
            }
        }
        let path = dir.path().join(METRICS_FILE);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "iter,d_loss,g_loss,wasserstein,d_acc_real,d_acc_fake,grad_norm,g_grad_norm,iters_per_s,elapsed_s,cpu_s,fcd,fcd_ema\n"
        ));
        assert!(
            text.contains("\n1,0.5,0.501,,0.75,,NaN,0.25,123.456,0.1,0.15,,\n"),
            "{text}"
        );
        let back = read_metrics(&path).unwrap();
        assert_eq!(back.len(), 50);
        for (a, b) in rows.iter().zip(&back) {
            assert!(same(a, b), "{a:?} != {b:?}");
        }
        // Flush makes rows visible before the writer is dropped.
        let mut csv = MetricsCsv::create(dir.path()).unwrap();
        csv.append(&row(1)).unwrap();
        csv.flush().unwrap();
        assert_eq!(read_metrics(csv.path()).unwrap().len(), 1);
    }

    #[test]
    fn resume_rewrites_an_older_header() {
        // A run logged by a tinygan without the later columns continues under the new header.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(METRICS_FILE);
        fs::write(&p, "iter,d_loss,g_loss\n1,0.5,0.25\n2,0.4,0.2\n3,0.3,0.1\n").unwrap();
        let mut csv = MetricsCsv::resume(dir.path(), 2).unwrap();
        csv.append(&MetricsRow {
            iter: 3,
            fcd: Some(7.5),
            ..MetricsRow::default()
        })
        .unwrap();
        csv.flush().unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.starts_with(&(header_line() + "\n")), "{text}");
        let rows = read_metrics(&p).unwrap();
        assert_eq!(rows.iter().map(|r| r.iter).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(rows[1].g_loss, Some(0.2));
        assert_eq!((rows[2].g_loss, rows[2].fcd), (None, Some(7.5)));
    }

    #[test]
    fn csv_columns_matched_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        fs::write(&p, "g_loss,iter,extra\n2.5,7,x\n,8,y\n").unwrap();
        let rows = read_metrics(&p).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].iter, rows[0].g_loss, rows[0].d_loss),
            (7, Some(2.5), None)
        );
        assert_eq!((rows[1].iter, rows[1].g_loss), (8, None));
        fs::write(&p, "d_loss\n1\n").unwrap();
        assert!(read_metrics(&p).unwrap_err().to_string().contains("iter"));
        fs::write(&p, "iter,d_loss\n1,abc\n2,1\n").unwrap();
        let err = read_metrics(&p).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("d_loss"), "{err}");
        fs::write(&p, "").unwrap();
        assert!(read_metrics(&p).unwrap().is_empty());
        assert!(read_metrics(&dir.path().join("none.csv")).is_err());
    }

    #[test]
    fn resume_truncates_later_rows_and_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut csv = MetricsCsv::create(dir.path()).unwrap();
            for i in 1..=30 {
                csv.append(&row(i)).unwrap();
            }
        }
        // The interrupted session was killed mid-write of row 31.
        let path = dir.path().join(METRICS_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"31,0.03,0.5").unwrap();
        drop(f);
        assert_eq!(read_metrics(&path).unwrap().len(), 30);
        // Checkpoint was at iteration 20: rows 21..=31 go, 21.. are appended again.
        {
            let mut csv = MetricsCsv::resume(dir.path(), 20).unwrap();
            assert_eq!(csv.elapsed_before(), row(20).elapsed_s.unwrap());
            assert_eq!(csv.cpu_before(), row(20).cpu_s.unwrap());
            for i in 21..=25 {
                csv.append(&row(i)).unwrap();
            }
        }
        let iters: Vec<u64> = read_metrics(&path)
            .unwrap()
            .iter()
            .map(|r| r.iter)
            .collect();
        assert_eq!(iters, (1..=25).collect::<Vec<_>>());
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("iter,").count(), 1, "one header");
        // Resuming beyond the last row keeps everything; resuming a run without a log creates one.
        drop(MetricsCsv::open(dir.path(), Some(100)).unwrap());
        assert_eq!(read_metrics(&path).unwrap().len(), 25);
        let fresh = tempfile::tempdir().unwrap();
        let csv = MetricsCsv::open(&fresh.path().join("run"), Some(5)).unwrap();
        assert!(read_metrics(csv.path()).unwrap().is_empty());
        // A foreign file is not silently rewritten.
        fs::write(&path, "a,b\n1,2\n").unwrap();
        assert!(MetricsCsv::resume(dir.path(), 1).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "a,b\n1,2\n");
    }

    fn digits(n: usize) -> Vec<f32> {
        (0..n * IMAGE_PIXELS)
            .map(|i| {
                let (img, p) = (i / IMAGE_PIXELS, i % IMAGE_PIXELS);
                let (x, y) = ((p % 28) as f32 - 13.5, (p / 28) as f32 - 13.5);
                let r = (x * x + y * y).sqrt();
                // A ring whose radius varies per image: white ink on black, in [-1, 1].
                if (r - 4.0 - img as f32 % 6.0).abs() < 1.5 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect()
    }

    #[test]
    fn grid_png_dims_and_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("grid.png");
        save_grid_png(&p, &digits(10), 10, 4).unwrap();
        let img = image::open(&p).unwrap();
        assert_eq!(img.color(), image::ColorType::L8);
        let img = img.into_luma8();
        // 4 columns x 3 rows of 29-pixel cells plus 1-pixel border, upscaled 2x.
        assert_eq!(img.dimensions(), ((4 * 29 + 1) * 2, (3 * 29 + 1) * 2));
        assert_eq!(img.get_pixel(0, 0).0[0], GRID_GUTTER_GREY);
        assert_eq!(img.get_pixel(2, 2).0[0], 0); // top-left pixel of the first digit: -1 -> 0
        // The unused last two cells stay gutter grey.
        assert_eq!(
            img.get_pixel(img.width() - 10, img.height() - 10).0[0],
            GRID_GUTTER_GREY
        );
        let g1 = grid_image(&[1.0; IMAGE_PIXELS], 1, 8, 1).unwrap();
        assert_eq!(g1.dimensions(), (30, 30));
        assert_eq!(g1.get_pixel(1, 1).0[0], 255);
        assert!(save_grid_png(&p, &[0.0; 10], 1, 1).is_err());
        assert!(grid_image(&[], 0, 1, 1).is_err());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn gif_has_all_frames() {
        let dir = tempfile::tempdir().unwrap();
        let mut pngs = Vec::new();
        for k in 0..5 {
            let p = dir.path().join(format!("samples_{:06}.png", k * 500));
            save_grid_png(
                &p,
                &digits(20)[k * IMAGE_PIXELS..(k + 15) * IMAGE_PIXELS],
                15,
                5,
            )
            .unwrap();
            pngs.push(p);
        }
        let gif_path = dir.path().join("progress.gif");
        save_gif_from_pngs(&gif_path, &pngs, 40).unwrap();
        let file = File::open(&gif_path).unwrap();
        let mut opts = gif::DecodeOptions::new();
        opts.set_color_output(gif::ColorOutput::Indexed);
        let mut dec = opts.read_info(file).unwrap();
        let (w, h) = (dec.width(), dec.height());
        assert_eq!(u32::from(w), (5 * 29 + 1) * 2);
        assert_eq!(u32::from(h), (3 * 29 + 1) * 2 + GIF_LABEL_HEIGHT);
        let mut frames = 0;
        while let Some(frame) = dec.read_next_frame().unwrap() {
            assert_eq!((frame.width, frame.height, frame.delay), (w, h, 40));
            // The label strip has some white text on black.
            let strip = &frame.buffer[..usize::from(w) * GIF_LABEL_HEIGHT as usize];
            assert!(
                strip.iter().any(|&v| v > 200)
                    && strip.iter().filter(|&&v| v == 0).count() > strip.len() / 2
            );
            frames += 1;
        }
        assert_eq!(frames, 5);
        // Unlabelled frames, different sizes.
        let small = GrayImage::from_pixel(10, 5, Luma([200]));
        let big = GrayImage::from_pixel(20, 8, Luma([50]));
        save_gif(&gif_path, &[small, big], &[], 10).unwrap();
        let dec = gif::DecodeOptions::new()
            .read_info(File::open(&gif_path).unwrap())
            .unwrap();
        assert_eq!((dec.width(), dec.height()), (20, 8));
        assert!(save_gif(&gif_path, &[], &[], 10).is_err());
        assert_eq!(
            label_from_path(Path::new("a/samples_005000.png")),
            "iter 5000"
        );
        assert_eq!(label_from_path(Path::new("final.png")), "final");
    }

    #[test]
    fn loss_plot_is_a_png_of_expected_size() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<MetricsRow> = (1..=2000u64)
            .map(|i| {
                let t = i as f64;
                let noise = ((t * 12.9898).sin() * 43758.5453).fract();
                MetricsRow {
                    iter: i,
                    d_loss: Some(1.4 * (-t / 400.0).exp() + 0.3 + 0.2 * noise),
                    g_loss: Some(0.7 + 0.8 * (1.0 - (-t / 300.0).exp()) + 0.3 * noise),
                    wasserstein: Some(3.0 * (-t / 600.0).exp() + 0.1 * noise),
                    elapsed_s: Some(t * 0.01),
                    ..MetricsRow::default()
                }
            })
            .collect();
        let p = dir.path().join("losses.png");
        plot_losses(&rows, &p).unwrap();
        let img = image::open(&p).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (PLOT_WIDTH, 2 * PLOT_PANEL_HEIGHT)
        );
        // Three panels when accuracies are present; one when only losses are.
        let mut acc = rows.clone();
        for r in &mut acc {
            r.d_acc_real = Some(0.8);
            r.d_acc_fake = Some(0.6);
        }
        plot_losses(&acc, &p).unwrap();
        assert_eq!(image::open(&p).unwrap().height(), 3 * PLOT_PANEL_HEIGHT);
        // An FCD panel when some rows were measured (`train --eval-every`).
        let mut with_fcd = rows.clone();
        for r in with_fcd.iter_mut().step_by(100) {
            r.fcd = Some(100.0 / r.iter as f64);
        }
        plot_losses(&with_fcd, &p).unwrap();
        assert_eq!(image::open(&p).unwrap().height(), 3 * PLOT_PANEL_HEIGHT);
        let losses_only: Vec<MetricsRow> = [row(1), row(3)]
            .into_iter()
            .map(|r| MetricsRow {
                d_acc_real: None,
                fcd: None,
                fcd_ema: None,
                ..r
            })
            .collect();
        plot_losses(&losses_only, &p).unwrap();
        assert_eq!(image::open(&p).unwrap().height(), PLOT_PANEL_HEIGHT);
        assert!(plot_losses(&[], &p).is_err());
        assert!(
            plot_losses(
                &[MetricsRow {
                    iter: 3,
                    ..MetricsRow::default()
                }],
                &p
            )
            .is_err()
        );
        // Keep a copy to look at by hand when asked to.
        if let Some(out) = std::env::var_os("TINYGAN_REPORT_TEST_OUT") {
            let out = PathBuf::from(out);
            fs::create_dir_all(&out).unwrap();
            plot_losses(&rows, &out.join("losses.png")).unwrap();
            plot_losses(&acc, &out.join("losses_acc.png")).unwrap();
        }
    }

    #[test]
    fn scatter_png() {
        use rand::SeedableRng;
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let mut pts = crate::data::gaussians8_sample(&mut rng, 2000);
        pts.extend([f32::NAN, 1.0, 1e9, 1e9]);
        let centers = crate::data::gaussians8_centers();
        let p = dir.path().join("scatter.png");
        save_scatter_png(&p, &pts, &centers, "iteration 1000").unwrap();
        let img = image::open(&p).unwrap();
        assert_eq!((img.width(), img.height()), SCATTER_SIZE);
        save_scatter_png(&p, &[], &centers, "empty").unwrap();
        if let Some(out) = std::env::var_os("TINYGAN_REPORT_TEST_OUT") {
            let out = PathBuf::from(out);
            fs::create_dir_all(&out).unwrap();
            save_scatter_png(&out.join("scatter.png"), &pts, &centers, "iteration 1000").unwrap();
            save_grid_png(&out.join("grid.png"), &digits(16), 16, 8).unwrap();
            let frames = [
                grid_image(&digits(8), 8, 4, 2).unwrap(),
                grid_image(&digits(9)[IMAGE_PIXELS..], 8, 4, 2).unwrap(),
            ];
            let labels = ["iter 500".to_string(), "iter 1000".to_string()];
            save_gif(&out.join("progress.gif"), &frames, &labels, 50).unwrap();
        }
    }
}

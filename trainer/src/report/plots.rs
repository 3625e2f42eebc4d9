//! Plots: curves of any series ([`plot_xy`]), scatter plots of the 2-D toy set, and the loss
//! curves of a run ([`plot_losses`]), drawn with plotters and an embedded font.

use std::path::Path;

use anyhow::{Result, ensure};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::images::{plot_err, render_png};
use super::metrics::MetricsRow;

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
        draw_legend(&mut chart)
    })
}

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
        draw_legend(&mut chart)?;
    }
    Ok(())
}

/// The legend of the scatter plot and of the loss panels: upper right, on white, framed.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_err)
}

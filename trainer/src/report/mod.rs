//! What a training run leaves behind for a person to watch and trust: `metrics.csv` (one row per
//! iteration, resumable: [`metrics`]), sample grids as PNG and an animated GIF of the grids
//! ([`images`]), scatter plots for the 2-D toy set and loss curves ([`plots`]).
//!
//! Every file is written atomically ([`export::atomic`]), so a viewer refreshing it mid-run never
//! sees half an image. Plots use plotters with an embedded DejaVu Sans font
//! (`assets/DejaVuSans.ttf`), so no system font is needed. Nothing here depends on Burn.

pub mod images;
pub mod metrics;
pub mod plots;

pub use images::{
    GIF_LABEL_HEIGHT, GRID_GUTTER_GREY, GRID_SCALE, grid_image, save_gif, save_gif_from_pngs,
    save_gray_png, save_grid_png,
};
pub use metrics::{
    METRICS_COLUMNS, METRICS_FILE, METRICS_FLUSH_INTERVAL, MetricsCsv, MetricsRow, read_metrics,
};
pub use plots::{
    PLOT_PANEL_HEIGHT, PLOT_WIDTH, SCATTER_SIZE, XySeries, plot_losses, plot_xy, save_scatter_png,
};

#[cfg(test)]
mod tests;

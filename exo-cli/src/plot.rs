//! Line charts (plotters) written as PNG or SVG, chosen by the file extension, atomically.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, bail};
use plotters::coord::Shift;
use plotters::prelude::*;

/// DejaVu Sans (Bitstream Vera licence, `assets/DejaVuSans-LICENSE.txt`), embedded so that plots
/// render the same on every machine, with or without system fonts.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    anyhow::ensure!(ok, "the embedded plot font could not be loaded");
    Ok(())
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points, drawn in order.
    pub points: Vec<(f64, f64)>,
    /// Line colour.
    pub color: RGBColor,
    /// Draw markers at the points as well.
    pub markers: bool,
    /// A shaded band `(x, low, high)` around the line (e.g. a confidence interval), in `x`
    /// order; empty for none.
    pub band: Vec<(f64, f64, f64)>,
}

/// A chart: title, axis labels and lines.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Where the legend goes: lower right for curves that rise (reward vs KL), middle right
    /// otherwise.
    pub legend_lower_right: bool,
}

/// The image format of `path`, from its extension.
///
/// # Errors
/// Unless the extension is `png` or `svg`.
pub fn check_path(path: &Path) -> anyhow::Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("png" | "svg") => Ok(()),
        _ => bail!("plot file {} must end in .png or .svg", path.display()),
    }
}

/// Draws `chart` to `path` (`.png` or `.svg`), writing a temporary file first and renaming it.
///
/// # Errors
/// On an unknown extension, a drawing failure or an I/O error.
pub fn draw(chart: &Chart, path: &Path) -> anyhow::Result<()> {
    check_path(path)?;
    register_font()?;
    let tmp = temp_path(path);
    let size = (900, 560);
    let result = if path.extension().is_some_and(|e| e == "svg") {
        render(chart, &SVGBackend::new(&tmp, size).into_drawing_area())
    } else {
        render(chart, &BitMapBackend::new(&tmp, size).into_drawing_area())
    };
    if let Err(err) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err.context(format!("drawing {}", path.display())));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// `dir/.name.tmp-PID.ext`: same directory (so the rename is atomic) and same extension (plotters
/// picks the image encoder from it).
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("plot");
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("png");
    path.with_file_name(format!(".{name}.tmp-{}.{ext}", std::process::id()))
}

fn bounds(chart: &Chart) -> ((f64, f64), (f64, f64)) {
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    let band = chart
        .series
        .iter()
        .flat_map(|s| s.band.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)]));
    for (x, y) in points.copied().chain(band) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !(x0.is_finite() && x1.is_finite() && y0.is_finite() && y1.is_finite()) {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    let pad = 0.05 * (y1 - y0).max(1e-12);
    ((x0, x1.max(x0 + 1e-12)), (y0 - pad, y1 + pad))
}

fn render<DB: DrawingBackend>(chart: &Chart, area: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e}");
    area.fill(&WHITE).map_err(err)?;
    let ((x0, x1), (y0, y1)) = bounds(chart);
    let mut ctx = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    for s in chart.series.iter().filter(|s| s.band.len() > 1) {
        let outline: Vec<(f64, f64)> = s
            .band
            .iter()
            .map(|&(x, lo, _)| (x, lo))
            .chain(s.band.iter().rev().map(|&(x, _, hi)| (x, hi)))
            .collect();
        ctx.draw_series(std::iter::once(Polygon::new(
            outline,
            s.color.mix(0.18).filled(),
        )))
        .map_err(err)?;
    }
    for s in &chart.series {
        let color = s.color;
        ctx.draw_series(LineSeries::new(
            s.points.iter().copied(),
            color.stroke_width(2),
        ))
        .map_err(err)?
        .label(s.label.as_str())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        if s.markers {
            ctx.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
    }
    ctx.configure_series_labels()
        .position(if chart.legend_lower_right {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::MiddleRight
        })
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    area.present().map_err(err)?;
    Ok(())
}

//! `--plot`: the loss curve and, when the data have rewards, the importance-sampled reward
//! against KL, drawn from `metrics.jsonl`.

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use super::metrics;
use crate::plot::{self, Chart, Series};

/// Blue, orange, green, red: the first colours of matplotlib's palette.
pub const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

/// Draws `OUT/loss.png` and, if the metrics have `kl/ref_policy` and `is/reward`,
/// `OUT/reward-vs-kl.png`; returns the files written.
///
/// # Errors
/// If the metrics cannot be read or a plot drawn.
pub fn training_plots(out: &Path, title: &str) -> anyhow::Result<Vec<PathBuf>> {
    let rows = metrics::read(&out.join("metrics.jsonl"))?;
    let series = |key: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .filter_map(|(s, m)| m.get(key).map(|v| (*s as f64, *v)))
            .collect()
    };
    let mut written = Vec::new();
    let mut lines = vec![Series {
        label: "train loss".into(),
        points: series("loss"),
        color: PALETTE[0],
        markers: false,
        band: Vec::new(),
    }];
    let eval = series("eval_loss");
    if !eval.is_empty() {
        lines.push(Series {
            label: "eval loss".into(),
            points: eval,
            color: PALETTE[1],
            markers: true,
            band: Vec::new(),
        });
    }
    let loss = out.join("loss.png");
    plot::draw(
        &Chart {
            title: format!("{title}: loss"),
            x_label: "step".into(),
            y_label: "loss".into(),
            series: lines,
            legend_lower_right: false,
        },
        &loss,
    )?;
    written.push(loss);
    let frontier: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|(_, m)| Some((*m.get("kl/ref_policy")?, *m.get("is/reward")?)))
        .collect();
    if !frontier.is_empty() {
        let path = out.join("reward-vs-kl.png");
        plot::draw(
            &Chart {
                title: format!(
                    "{title}: reward (importance-sampled) vs KL, from the K reference samples"
                ),
                x_label: "KL(π_ref ‖ π_θ) from the samples, nats".into(),
                y_label: "reward".into(),
                series: vec![Series {
                    label: "one point per step".into(),
                    points: frontier,
                    color: PALETTE[0],
                    markers: true,
                    band: Vec::new(),
                }],
                legend_lower_right: true,
            },
            &path,
        )?;
        written.push(path);
    }
    Ok(written)
}

//! The README's generated sections: the demo's and the study's from committed `exo demo` reports,
//! the toy's from a fresh (deterministic) `exo toy` fit; never typed by hand.
//!
//! `scripts/regen-docs.sh` runs the default demo and the multi-seed study, copies their
//! `report.json` and plots to `docs/demo/` and `docs/study/`, and then rewrites each section of
//! README.md between its markers:
//!
//! ```text
//! <!-- generated: NAME (scripts/regen-docs.sh; do not edit) -->
//! …
//! <!-- end: NAME -->
//! ```
//!
//! A unit test renders the sections from the committed reports and fails when README.md says
//! anything else (`EXO_BLESS=1` makes it rewrite README.md instead); another test
//! (`exo-cli/tests/runner/demo.rs`) reruns the default demo and fails when its numbers differ
//! from `docs/demo/report.json` in a single bit.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};

use super::report::DemoReport;
use super::stats::Comparison;
use crate::commands::toy::{ToyOutput, default_fits, table};

/// The report of the default `exo demo`, relative to the repository root.
pub const DEMO_REPORT: &str = "docs/demo/report.json";
/// The report of the multi-seed study.
pub const STUDY_REPORT: &str = "docs/study/report.json";

/// Reads a committed report.
///
/// # Errors
/// If the file is missing or is not a report.
pub fn read_report(path: &Path) -> anyhow::Result<DemoReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not an exo demo report", path.display()))
}

/// The generated sections, as `(name, text)`.
pub fn sections(
    demo: &DemoReport,
    study: &DemoReport,
    toy: &ToyOutput,
) -> Vec<(&'static str, String)> {
    vec![
        ("quick-start-time", quick_start_time(demo)),
        ("demo-table", demo_section(demo)),
        ("study-table", study_section(study)),
        ("study-verdict", verdict(study)),
        ("toy-table", toy_section(toy)),
    ]
}

/// How long the default demo's own stages take, from its report.
fn quick_start_time(r: &DemoReport) -> String {
    format!(
        "`exo demo` itself takes {:.0} s ({} runs at once, {} backend, {} kernels; `{DEMO_REPORT}`).\n",
        r.total_seconds,
        r.plan.jobs,
        r.plan.compute.backend,
        r.plan.compute.kernels.name()
    )
}

/// The default `exo toy`'s table (deterministic: fitted afresh when the README is rendered).
fn toy_section(toy: &ToyOutput) -> String {
    format!(
        "```text\n$ scripts/exo toy --plot toy.png\n{}```\n",
        table(toy)
    )
}

/// The default demo's output, as the README shows it.
fn demo_section(r: &DemoReport) -> String {
    format!(
        "```text\n$ scripts/exo demo\n{}\n{}\n{}```\n",
        r.table(),
        r.frontier_table(),
        stage_line(r)
    )
}

/// The study's table (every checkpoint at the example β, the last at the others) and its
/// comparisons.
fn study_section(r: &DemoReport) -> String {
    format!(
        "```text\n$ scripts/{}\n{}\n{}\n{}```\n",
        r.command_line(),
        r.study_table(true),
        r.comparison_table(),
        stage_line(r)
    )
}

/// The stage times of a report, in one line.
fn stage_line(r: &DemoReport) -> String {
    let stages: Vec<String> = r
        .stages
        .iter()
        .map(|s| format!("{} {:.1}", s.name, s.seconds))
        .collect();
    format!(
        "stages (s): {}; total {:.1} s on {} ({} kernels)\n",
        stages.join(", "),
        r.total_seconds,
        r.plan.compute.backend,
        r.plan.compute.kernels.name()
    )
}

/// What the study shows, in words, from its numbers: for each comparison, whether the 95%
/// interval of the average advantage excludes zero.
fn verdict(r: &DemoReport) -> String {
    let mut t = String::new();
    let n = r.study.seeds.len();
    let betas: Vec<String> = r.plan.betas.iter().map(f64::to_string).collect();
    let _ = writeln!(
        t,
        "Over {n} seeds and β ∈ {{{}}} ({} alignment steps, checkpoints every {}), with the \
         frontiers compared at equal KL on the range every seed reaches:",
        betas.join(", "),
        r.plan.align_steps,
        r.plan.checkpoint_every()
    );
    t.push('\n');
    for c in &r.study.comparisons {
        let _ = writeln!(t, "- {}", sentence(c));
    }
    t.push('\n');
    let _ = writeln!(
        t,
        "The study took {:.1} min (`{}`, {} runs of {} steps, {} evaluations of {} prompts × {} \
         samples).",
        r.total_seconds / 60.0,
        r.command_line(),
        r.runs.iter().filter(|m| m.beta.is_some()).count(),
        r.plan.align_steps,
        r.runs.iter().map(|m| m.frontier.len()).sum::<usize>(),
        r.plan.eval_prompts,
        r.plan.eval_samples
    );
    t
}

/// One comparison in words.
fn sentence(c: &Comparison) -> String {
    let avg = c.average;
    let range = format!("KL ∈ [0, {:.3}] nats", c.kl_max);
    match avg.ci95 {
        Some((lo, hi)) => {
            let finding = if lo > 0.0 {
                format!("**{} reaches more reward than {}** at equal KL", c.a, c.b)
            } else if hi < 0.0 {
                format!("**{} reaches more reward than {}** at equal KL", c.b, c.a)
            } else {
                let ahead = if avg.mean >= 0.0 { &c.a } else { &c.b };
                format!(
                    "**{} and {} are not distinguishable** at this size (the interval contains 0; \
                     the point estimate favours {ahead})",
                    c.a, c.b
                )
            };
            format!(
                "{finding}: the mean of {} − {} over {range} is {:+.4}, 95% interval [{lo:+.4}, {hi:+.4}] (n = {}).",
                c.a, c.b, avg.mean, avg.n
            )
        }
        None => format!(
            "{} − {} over {range}: {:+.4} (one seed: no interval).",
            c.a, c.b, avg.mean
        ),
    }
}

/// `readme` with every generated section replaced by `sections`.
///
/// # Errors
/// If a section's markers are missing, repeated or out of order.
pub fn update(readme: &str, sections: &[(&str, String)]) -> anyhow::Result<String> {
    let mut text = readme.to_owned();
    for (name, body) in sections {
        let begin = format!("<!-- generated: {name} (scripts/regen-docs.sh; do not edit) -->\n");
        let end = format!("<!-- end: {name} -->");
        let (Some(b), Some(e)) = (text.find(&begin), text.find(&end)) else {
            bail!(
                "README.md has no section {name:?} (markers `{}` and `{end}`)",
                begin.trim_end()
            );
        };
        if text.matches(&begin).count() != 1 || text.matches(&end).count() != 1 || e < b {
            bail!("README.md's section {name:?} has repeated or misordered markers");
        }
        text.replace_range(b + begin.len()..e, body);
    }
    Ok(text)
}

/// README.md rendered from the committed reports under `root`.
///
/// # Errors
/// If a report or README.md cannot be read, or a section is missing.
pub fn render(root: &Path) -> anyhow::Result<(String, String)> {
    let path = root.join("README.md");
    let readme =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let demo = read_report(&root.join(DEMO_REPORT))?;
    let study = read_report(&root.join(STUDY_REPORT))?;
    let toy = default_fits()?;
    let updated = update(&readme, &sections(&demo, &study, &toy))?;
    Ok((readme, updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_between_their_markers_and_missing_ones_are_errors() {
        let readme = "a\n<!-- generated: x (scripts/regen-docs.sh; do not edit) -->\nold\n<!-- end: x -->\nb\n";
        let new = update(readme, &[("x", "new\n".to_owned())]).unwrap_or_default();
        assert_eq!(
            new,
            "a\n<!-- generated: x (scripts/regen-docs.sh; do not edit) -->\nnew\n<!-- end: x -->\nb\n"
        );
        assert!(update(readme, &[("y", String::new())]).is_err());
        let twice = format!("{readme}{readme}");
        assert!(update(&twice, &[("x", String::new())]).is_err());
    }

    /// The README's generated sections equal what the committed reports render to.
    /// `EXO_BLESS=1` rewrites README.md instead (scripts/regen-docs.sh does).
    #[test]
    fn the_readme_demo_sections_are_generated_from_the_committed_reports() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let (readme, updated) = render(&root).unwrap_or_else(|e| panic!("{e:#}"));
        if std::env::var_os("EXO_BLESS").is_some() {
            exo_lm::weights::write_atomic(&root.join("README.md"), updated.as_bytes())
                .unwrap_or_else(|e| panic!("{e:#}"));
            return;
        }
        if let Some((i, (a, b))) = readme
            .lines()
            .zip(updated.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
        {
            panic!(
                "README.md line {} differs from what {DEMO_REPORT} and {STUDY_REPORT} render:\n  README: {a}\n  report: {b}\nRun scripts/regen-docs.sh render (or regenerate the reports).",
                i + 1
            );
        }
        assert_eq!(
            readme, updated,
            "README.md's length differs from the rendering"
        );
    }
}

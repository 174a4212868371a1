//! An external reward program: `sh -c CMD` reads one JSON object `{"prompt", "completion"}` per
//! line on stdin and writes one number per line on stdout, in the same order. Users plug in their
//! own reward model this way, in any language.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::Item;

/// Scores `items` with `cmd`.
///
/// # Errors
/// If the program cannot start, exits unsuccessfully, or prints a line that is not a finite
/// number, or too few or too many lines.
pub fn score(cmd: &str, items: &[Item]) -> anyhow::Result<Vec<f64>> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting the reward command `{cmd}`"))?;
    let mut input = String::new();
    for it in items {
        input.push_str(&serde_json::to_string(it)?);
        input.push('\n');
    }
    let mut stdin = child.stdin.take().context("the reward command's stdin")?;
    // Write from another thread: a program that answers line by line fills its stdout pipe
    // while we are still writing.
    let writer = std::thread::spawn(move || {
        // A program that exits early closes the pipe; its exit status says why.
        let _ = stdin.write_all(input.as_bytes());
    });
    let stdout = child.stdout.take().context("the reward command's stdout")?;
    let mut scores = Vec::with_capacity(items.len());
    for (i, line) in BufReader::new(stdout).lines().enumerate() {
        let line = line.with_context(|| format!("reading the output of `{cmd}`"))?;
        let value: f64 = line.trim().parse().map_err(|_| {
            anyhow::anyhow!(
                "the reward command `{cmd}` printed {:?} on line {}, not a number",
                line,
                i + 1
            )
        })?;
        if !value.is_finite() {
            bail!(
                "the reward command `{cmd}` printed {value} on line {}: rewards must be finite",
                i + 1
            );
        }
        scores.push(value);
    }
    let _ = writer.join();
    let output = child
        .wait_with_output()
        .with_context(|| format!("waiting for `{cmd}`"))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let first = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        bail!(
            "the reward command `{cmd}` failed ({}): {first}",
            output.status
        );
    }
    if scores.len() != items.len() {
        bail!(
            "the reward command `{cmd}` printed {} scores for {} completions",
            scores.len(),
            items.len()
        );
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Item> {
        (0..n)
            .map(|i| Item {
                prompt: format!("p{i}"),
                completion: format!(" c{i}"),
            })
            .collect()
    }

    #[test]
    fn a_program_scores_every_line_in_order() -> anyhow::Result<()> {
        // The length of each JSON line, as a reward.
        let scores = score("while IFS= read -r l; do echo ${#l}; done", &items(3))?;
        assert_eq!(scores, [34.0, 34.0, 34.0]);
        Ok(())
    }

    #[test]
    fn bad_programs_are_reported() {
        let msg = |cmd: &str| {
            score(cmd, &items(2))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(
            msg("echo 1").contains("printed 1 scores for 2"),
            "{}",
            msg("echo 1")
        );
        assert!(msg("echo x; echo 2").contains("\"x\" on line 1"));
        assert!(msg("echo nan; echo 1").contains("must be finite"));
        assert!(msg("echo oops >&2; exit 3").contains("failed"));
    }
}

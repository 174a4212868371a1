//! A progress bar with ETA and live loss on stderr when it is a terminal; nothing otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress of a run of `total` steps.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `total` steps labelled `label`, starting at `done`, shown only on a terminal
    /// (and when `quiet` is false).
    pub fn new(label: &str, total: u64, done: u64, quiet: bool) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:32}] {pos}/{len} steps, {elapsed} elapsed, ETA {eta}  {msg}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        };
        bar.set_prefix(label.to_owned());
        bar.set_position(done);
        bar.reset_eta();
        Self { bar }
    }

    /// Marks step `step` done with its loss.
    pub fn step(&self, step: u64, loss: f64) {
        self.bar.set_position(step);
        self.bar.set_message(format!("loss {loss:.4}"));
    }

    /// Prints a line above the bar (nothing when there is no bar: quiet off a terminal).
    pub fn println(&self, line: &str) {
        if !self.bar.is_hidden() {
            self.bar.println(line);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

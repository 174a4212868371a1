//! The stages of `exo demo`, one function each, and what they share: the log of wall times and
//! commands, the argv helpers (each stage runs the command it writes to `commands.sh`) and the
//! bounded thread pool.

mod align;
mod eval;
mod prepare;
mod sample;

pub(crate) use align::align_stage;
pub(crate) use eval::eval_stage;
pub(crate) use prepare::{corpus_stage, sft_stage, tokenizer_stage};
pub(crate) use sample::sample_stage;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use super::report::StageTime;
use crate::cli::{Cli, Command};
use crate::run::backend::{Compute, DEFAULT_LOGIT_CHUNK, Logits};

/// What the stages record as they go: wall times and the equivalent commands.
#[derive(Default)]
pub(crate) struct Log {
    pub(crate) stages: Vec<StageTime>,
    pub(crate) commands: Vec<Vec<String>>,
}

impl Log {
    /// Records a finished stage (adding to it when it ran before, for another seed) and tells
    /// the user.
    pub(crate) fn stage(&mut self, name: &str, started: Instant, note: String) {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("exo demo: {name:<9} {seconds:>6.1} s  {note}");
        match self.stages.iter_mut().find(|s| s.name == name) {
            Some(s) => {
                s.seconds += seconds;
                s.note = note;
            }
            None => self.stages.push(StageTime {
                name: name.to_owned(),
                seconds,
                note,
            }),
        }
    }
}

/// A path as an argument.
pub(crate) fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The `--backend/--device/--threads/--kernels` flags of `compute`.
pub(crate) fn compute_flags(compute: &Compute) -> Vec<String> {
    let mut flags: Vec<String> = vec![
        "--backend".into(),
        compute.backend.name().into(),
        "--device".into(),
        compute.device.to_string(),
        "--threads".into(),
        compute.threads.to_string(),
        "--kernels".into(),
        compute.kernels.name().into(),
    ];
    // The batch layout's levers, when switched off (the defaults need no flag).
    if compute.logits != Logits::default() {
        let name = clap::ValueEnum::to_possible_value(&compute.logits)
            .map_or_else(String::new, |v| v.get_name().to_owned());
        flags.extend(["--logits".into(), name]);
    }
    if compute.logit_chunk != DEFAULT_LOGIT_CHUNK {
        flags.extend(["--logit-chunk".into(), compute.logit_chunk.to_string()]);
    }
    if !compute.shared_prompts {
        flags.push("--no-shared-prompts".into());
    }
    if !compute.packing {
        flags.push("--no-packing".into());
    }
    flags
}

/// Parses a command line (without the program name) as `exo` would.
pub(crate) fn parse(argv: &[String]) -> anyhow::Result<Command> {
    let full = std::iter::once("exo".to_owned()).chain(argv.iter().cloned());
    let cli = <Cli as clap::Parser>::try_parse_from(full).map_err(|e| {
        let rendered = e.render().to_string();
        anyhow::anyhow!(
            "internal: {}",
            rendered.lines().next().unwrap_or("bad arguments")
        )
    })?;
    Ok(cli.command)
}

/// Runs `work` on every item with at most `jobs` at once; results in item order.
pub(crate) fn parallel<T: Send, R: Send>(
    jobs: usize,
    items: Vec<T>,
    work: impl Fn(T) -> anyhow::Result<R> + Sync,
) -> anyhow::Result<Vec<R>> {
    let n = items.len();
    let queue = Mutex::new(items.into_iter().enumerate().collect::<VecDeque<_>>());
    let results: Mutex<Vec<Option<anyhow::Result<R>>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some((i, item)) = next else { break };
                    let r = work(item);
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(r);
                    }
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a worker thread panicked"))?;
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("a worker thread panicked"))))
        .collect()
}

//! The stages of `exo demo`, one function each, and what they share: the log of wall times and
//! commands, the typed stage command (each stage runs the arguments of the command it writes to `commands.sh`) and the
//! bounded thread pool.

mod align;
mod command;
mod eval;
mod prepare;
mod sample;

pub(crate) use align::align_stage;
pub(crate) use command::StageCommand;
pub(crate) use eval::eval_stage;
pub(crate) use prepare::{corpus_stage, sft_stage, tokenizer_stage};
pub(crate) use sample::sample_stage;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use super::report::StageTime;

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

//! `exo demo`: the paper's whole pipeline, offline, on a tiny model trained from scratch, in a
//! few minutes on two CPU cores.
//!
//! ```text
//! corpus ─▶ BPE tokenizer ─▶ exo sft (tiny Llama) ─▶ exo sample (K per held-out prompt)
//!        ─▶ exo score (sentiment) ─▶ exo train: exo │ dpo │ exo-pair (same SFT, same budget)
//!        ─▶ evaluation (reward, KL to SFT, win rate vs SFT) ─▶ table, JSON, plot, samples
//! ```
//!
//! Each stage is the corresponding command, run in-process with the flags it would have on the
//! command line (written to `OUT/commands.sh`, so that every stage can be rerun alone).

pub mod corpus;
mod files;
pub mod pipeline;
pub mod plan;
// The README's generated sections: rendered (and checked) by this module's test.
#[cfg(test)]
mod readme;
pub mod report;
mod stages;
mod stats;
mod study;
pub mod tokenizer;

//! Preference data for exo: every shape users bring, read into three record types, tokenised the
//! way the models expect and batched with the K completions of a prompt kept together.
//!
//! ```text
//! file ──Reader──▶ Example { Record::Pair | Group | Sft } ──Tokenizer──▶ TokenizedGroup ──batches──▶ Batch
//!       (detects container + schema;                    (BOS/EOS once, prompt and      (whole groups,
//!        file:line errors, streaming)                     completion joined as ids)      masks, seeded order)
//! ```
//!
//! * Containers ([`Container`]): JSON Lines, one JSON array (the official EXO `train.json`),
//!   Parquet. Detected from the first bytes and the extension, or forced.
//! * Record shapes ([`Schema`]): TRL standard, implicit prompt and conversational (rendered with
//!   the chat template of `tokenizer_config.json`), the official EXO sft / pref / rewards files,
//!   Anthropic-HH transcripts, prompt-completion SFT. Detected from the first record, or forced.
//! * Errors ([`Error`]) name the file, the line (or Parquet row) and the field:
//!   `prefs.jsonl:42: field "chosen": expected a string, found null`. A bad record does not stop
//!   the others.
//!
//! ```
//! use exo_data::{Group, PairStrategy, ReadOptions, Reader, Record};
//!
//! # fn main() -> Result<(), exo_data::Error> {
//! let jsonl = br#"{"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
//! {"prompt": "Grass is", "chosen": " green.", "rejected": null}
//! "#;
//! let reader = Reader::from_bytes("prefs.jsonl", jsonl.to_vec(), &ReadOptions::default())?;
//! let (mut good, mut bad) = (Vec::new(), Vec::new());
//! for item in reader {
//!     match item {
//!         Ok(example) => good.push(example.record),
//!         Err(e) => bad.push(e.to_string()),
//!     }
//! }
//! assert_eq!(bad, ["prefs.jsonl:2: field \"rejected\": expected a string, found null"]);
//!
//! // A pair is a group of two with rewards (1, 0), as the official `pref_to_rw.py`.
//! let Record::Pair(pair) = good.remove(0) else { unreachable!() };
//! let group = Group::from(pair.clone());
//! assert_eq!(group.rewards(), [1.0, 0.0]);
//! assert_eq!(group.to_pairs(PairStrategy::BestVsWorst), [pair]);
//! # Ok(())
//! # }
//! ```

mod batch;
mod chat;
mod config;
mod error;
mod fields;
mod formats;
mod hh;
mod reader;
mod records;
mod rng;
mod schema;
mod stats;
mod tokenize;
mod truncate;
mod validate;

pub use batch::{Batch, BatchConfig, Batcher, batches};
pub use chat::ChatTemplate;
pub use config::TokenizerConfig;
pub use error::{Error, ErrorKind, Location, Origin, Result};
pub use formats::{Container, UnknownContainer};
pub use reader::{DEFAULT_MAX_RECORD_BYTES, Example, ReadOptions, Reader};
pub use records::{Group, GroupError, Pair, PairStrategy, Record, Sft};
pub use schema::{Schema, UnknownSchema};
pub use stats::LengthSummary;
pub use tokenize::{Encoded, SpecialTokens, TokenizedGroup, Tokenizer};
pub use truncate::{DropReason, Fit, OverLength, Truncation, TruncationMode};

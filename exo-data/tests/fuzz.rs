//! Fuzzing with proptest: every reader gets arbitrary bytes (and near-valid inputs, which reach
//! deeper) and must return errors, never panic or loop. The tokeniser and the batcher get
//! arbitrary records and limits and must keep their invariants.
//!
//! Cases per property: proptest's default (256), or `PROPTEST_CASES`; for a long run:
//! `PROPTEST_CASES=20000 cargo test -p exo-data --release --test fuzz`.

mod common;

use std::sync::{Arc, OnceLock};

use common::{llama_tokenizer, scratch, write_pref_parquet, write_rw_parquet};
use exo_data::{
    BatchConfig, Container, Example, Location, OverLength, Pair, ReadOptions, Reader, Record,
    TokenizedGroup, Tokenizer, Truncation, TruncationMode, batches,
};
use proptest::prelude::*;

/// Reads everything; panics (the failure proptest looks for) are the only way out besides
/// returning the number of items.
fn drain(name: &str, bytes: Vec<u8>, options: &ReadOptions) -> usize {
    match Reader::from_bytes(name, bytes, options) {
        Ok(reader) => reader.take(100_000).count(),
        Err(e) => {
            // Errors from opening must still say where.
            assert!(e.to_string().starts_with(name), "{e}");
            0
        }
    }
}

fn tokenizer() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(llama_tokenizer)
}

fn options(container: Option<Container>, limit: usize) -> ReadOptions {
    let mut o = ReadOptions::default().with_max_record_bytes(limit);
    o.container = container;
    if let Some(t) = tokenizer().chat_template() {
        o = o.with_chat_template(t);
    }
    o
}

#[allow(clippy::unwrap_used)] // test setup: a failure is a test failure
fn valid_parquet() -> &'static [Vec<u8>] {
    static P: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    P.get_or_init(|| {
        let a = scratch("fuzz-pref.parquet");
        write_pref_parquet(
            &a,
            &[
                ("The sky is", Some(" blue."), " green."),
                ("Grass", None, " x"),
                ("Snow", Some(" white."), " y"),
            ],
            2,
        );
        let b = scratch("fuzz-rw.parquet");
        write_rw_parquet(
            &b,
            &[
                ("p", vec![" a", " b"], vec![1.0, 0.0]),
                ("q", vec![" c", " d", " e"], vec![f64::NAN, 0.0, 2.0]),
            ],
        );
        vec![std::fs::read(a).unwrap(), std::fs::read(b).unwrap()]
    })
}

/// Text made of JSON punctuation, the literals the reader special-cases and HH markers.
fn jsonish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("\n".to_owned()),
            Just(" ".to_owned()),
            Just("NaN".to_owned()),
            Just("-Infinity".to_owned()),
            Just("\"prompt\"".to_owned()),
            Just("\"chosen\"".to_owned()),
            Just("\"rejected\"".to_owned()),
            Just("\"completions\"".to_owned()),
            Just("\"rewards\"".to_owned()),
            Just("\"messages\"".to_owned()),
            Just("\"role\"".to_owned()),
            Just("\"content\"".to_owned()),
            Just("1e400".to_owned()),
            Just("null".to_owned()),
            Just("\"\\n\\nHuman: x\"".to_owned()),
            Just("\"\\u00e9\"".to_owned()),
            Just("\u{e9}".to_owned()),
            "[a-z0-9]{1,3}",
        ],
        0..80,
    )
    .prop_map(|parts| parts.concat())
}

fn hh_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\n\n".to_owned()),
            Just("Human:".to_owned()),
            Just("Humans:".to_owned()),
            Just("Assistant:".to_owned()),
            Just(" ".to_owned()),
            "[a-zé ]{0,4}",
        ],
        0..16,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn jsonl_reader_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048), limit in 1usize..4096) {
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        let n = drain("f.jsonl", bytes, &options(Some(Container::Jsonl), limit));
        prop_assert!(n <= lines);
    }

    #[test]
    fn jsonl_reader_survives_json_like_text(text in jsonish(), limit in 1usize..512) {
        drain("f.jsonl", text.into_bytes(), &options(Some(Container::Jsonl), limit));
    }

    #[test]
    fn json_array_reader_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048), limit in 1usize..4096) {
        drain("f.json", bytes, &options(Some(Container::JsonArray), limit));
    }

    #[test]
    fn json_array_reader_survives_json_like_text(text in jsonish(), limit in 1usize..512) {
        let n = drain("f.json", format!("[{text}").into_bytes(), &options(Some(Container::JsonArray), limit));
        prop_assert!(n <= text.len() + 1);
    }

    #[test]
    fn parquet_reader_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut with_magic = b"PAR1".to_vec();
        with_magic.extend_from_slice(&bytes);
        with_magic.extend_from_slice(b"PAR1");
        drain("f.parquet", bytes, &options(Some(Container::Parquet), 1 << 20));
        drain("f.parquet", with_magic, &options(Some(Container::Parquet), 1 << 20));
    }

    #[test]
    fn parquet_reader_survives_corrupted_files(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = valid_parquet()[which].clone();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        drain("f.parquet", bytes, &options(Some(Container::Parquet), 1 << 20));
    }

    #[test]
    fn detection_survives_arbitrary_bytes_and_names(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        name in "[a-z]{1,4}\\.(jsonl|json|parquet|txt|gz)",
    ) {
        drain(&name, bytes, &options(None, 1 << 20));
    }

    #[test]
    fn hh_splitting_survives_arbitrary_transcripts(chosen in hh_text(), rejected in hh_text()) {
        let mut line = serde_json::json!({"chosen": chosen, "rejected": rejected}).to_string();
        line.push('\n');
        let options = options(Some(Container::Jsonl), 1 << 20).with_schema(exo_data::Schema::AnthropicHh);
        let reader = Reader::from_bytes("hh.jsonl", line.into_bytes(), &options).unwrap();
        for ex in reader.flatten() {
            // Whatever the transcripts, a pair that comes out is well formed.
            let Record::Pair(p) = &ex.record else { panic!("not a pair") };
            prop_assert!(p.prompt.ends_with("\n\nAssistant:"));
            prop_assert!(!p.chosen.trim().is_empty() && !p.rejected.trim().is_empty());
        }
    }

    #[test]
    fn conversational_records_survive_arbitrary_messages(text in jsonish()) {
        let line = format!("{{\"chosen\": [{text}], \"rejected\": [{{\"role\": \"user\", \"content\": \"x\"}}]}}\n");
        let options = options(Some(Container::Jsonl), 1 << 20).with_schema(exo_data::Schema::Conversational);
        drain("c.jsonl", line.into_bytes(), &options);
    }

    #[test]
    fn tokenisation_keeps_its_invariants(
        prompt in "\\PC{0,60}",
        chosen in "\\PC{0,40}",
        rejected in "\\PC{0,40}",
        max_length in proptest::option::of(0usize..40),
        max_prompt_length in proptest::option::of(0usize..20),
        keep_end in any::<bool>(),
        drop in any::<bool>(),
    ) {
        let tok = tokenizer();
        let ex = Example {
            origin: exo_data::Origin { path: Arc::from(std::path::Path::new("f")), location: Location::Line(1) },
            record: Record::Pair(Pair { prompt, chosen, rejected }),
            warnings: Vec::new(),
        };
        let mut t = Truncation::default()
            .with_mode(if keep_end { TruncationMode::KeepEnd } else { TruncationMode::KeepStart })
            .with_over_length(if drop { OverLength::Drop } else { OverLength::Truncate });
        t.max_length = max_length;
        t.max_prompt_length = max_prompt_length;
        let enc = tok.encode(&ex, &t).unwrap();
        let s = tok.special_tokens();
        let g = &enc.group;
        let bos = s.bos.unwrap();
        prop_assert!(g.prompt.iter().take_while(|&&x| x == bos).count() <= 1);
        if !matches!(enc.fit, exo_data::Fit::Dropped(_)) {
            if let Some(m) = max_prompt_length { prop_assert!(g.prompt.len() <= m); }
            if let Some(l) = max_length { prop_assert!(g.max_row_len() <= l); }
            prop_assert!(g.completions.iter().all(|c| !c.is_empty()));
        }
        if enc.fit == exo_data::Fit::Whole {
            prop_assert_eq!(g.prompt[0], bos);
            prop_assert!(g.completions.iter().all(|c| c.last() == Some(&s.eos) && c.iter().filter(|&&x| x == s.eos).count() == 1));
        }
    }

    #[test]
    fn batching_keeps_every_group_whole(
        lens in proptest::collection::vec((0usize..6, proptest::collection::vec(0usize..6, 3)), 0..30),
        per in 1usize..5,
        seed in proptest::option::of(any::<u64>()),
        buffer in 1usize..40,
        bucket in any::<bool>(),
    ) {
        let groups: Vec<TokenizedGroup> = lens.iter().enumerate().map(|(i, (p, cs))| TokenizedGroup {
            origin: exo_data::Origin { path: Arc::from(std::path::Path::new("f")), location: Location::Line(i as u64) },
            prompt: vec![1; *p],
            completions: cs.iter().map(|&c| vec![2; c]).collect(),
            rewards: vec![0.0; 3],
        }).collect();
        let mut cfg = BatchConfig::new(per, 0).with_buffer(buffer).with_bucketing(bucket);
        cfg.seed = seed;
        let mut seen = Vec::new();
        for b in batches(groups.clone(), cfg) {
            let b = b.unwrap();
            prop_assert!(b.groups <= per && b.rows == 3 * b.groups);
            prop_assert_eq!(b.input_ids.len(), b.rows * b.width);
            seen.extend(b.origins.iter().map(|o| o.location));
        }
        seen.sort_by_key(|l| match l { Location::Line(n) => *n, _ => u64::MAX });
        let all: Vec<_> = groups.iter().map(|g| g.origin.location).collect();
        prop_assert_eq!(seen, all);
    }
}

/// Regression for what fuzzing found: the `parquet` crate's record reader panics on some
/// corrupted files ("column start and length should not be negative", "Decoder for dict should
/// have been set"). The reader catches those panics and reports a parquet error instead.
#[test]
fn parquet_panics_become_errors() {
    let valid = &valid_parquet()[0];
    let mut found = Vec::new();
    for i in 0..valid.len() {
        for byte in [0xFF, 0x80, 0x00] {
            let mut bytes = valid.clone();
            bytes[i] = byte;
            let opts = options(Some(Container::Parquet), 1 << 20);
            let errors: Vec<String> = match Reader::from_bytes("f.parquet", bytes, &opts) {
                Ok(r) => r.filter_map(Result::err).map(|e| e.to_string()).collect(),
                Err(e) => vec![e.to_string()],
            };
            found.extend(errors.into_iter().filter(|e| {
                e.contains("should not be negative") || e.contains("should have been set")
            }));
        }
    }
    assert!(
        !found.is_empty(),
        "no corruption reached a known parquet panic"
    );
    assert!(
        found
            .iter()
            .all(|e| e.starts_with("f.parquet") && e.contains(": parquet: ")),
        "{found:?}"
    );
}

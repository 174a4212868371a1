//! Every supported format reads into the right records, with the right detection.

mod common;

use common::{chat_options, fixture, read_all, scratch, write_pref_parquet, write_rw_parquet};
use exo_data::{Container, Group, Location, Pair, ReadOptions, Reader, Record, Schema, Sft};

fn pair(prompt: &str, chosen: &str, rejected: &str) -> Record {
    Record::Pair(Pair {
        prompt: prompt.into(),
        chosen: chosen.into(),
        rejected: rejected.into(),
    })
}

#[allow(clippy::unwrap_used)] // test helper: a failure is a test failure
fn detected(
    path: &std::path::Path,
    options: &ReadOptions,
) -> (Container, Option<Schema>, Vec<Record>) {
    let mut reader = Reader::open(path, options).unwrap();
    let records: Vec<Record> = reader.by_ref().map(|r| r.unwrap().record).collect();
    (reader.container(), reader.schema(), records)
}

#[test]
fn trl_standard_jsonl_with_a_blank_line() {
    let path = fixture("trl_standard.jsonl");
    let (container, schema, records) = detected(&path, &ReadOptions::default());
    assert_eq!(
        (container, schema),
        (Container::Jsonl, Some(Schema::Preference))
    );
    assert_eq!(records.len(), 3);
    assert_eq!(records[0], pair("The sky is", " blue.", " green."));
    let (ok, _) = read_all(&path, &ReadOptions::default());
    // Line numbers count the blank line.
    assert_eq!(ok[2].origin.location, Location::Line(4));
}

#[test]
fn trl_implicit_prompt_is_the_shared_prefix() {
    let (_, schema, records) = detected(&fixture("trl_implicit.jsonl"), &ReadOptions::default());
    assert_eq!(schema, Some(Schema::ImplicitPrompt));
    assert_eq!(records[0], pair("The sky is", " blue.", " green."));
    assert_eq!(records[1], pair("Water is", " wet.", " dry."));
}

#[test]
fn trl_conversational_renders_through_the_chat_template() {
    let (_, schema, records) = detected(&fixture("trl_conversational.jsonl"), &chat_options());
    assert_eq!(schema, Some(Schema::Conversational));
    let expected = pair(
        "<s><|im_start|>user\nWhat color is the sky?<|im_end|>\n<|im_start|>assistant\n",
        "It is blue.</s>",
        "It is green.</s>",
    );
    // Explicit and implicit prompts give the same record.
    assert_eq!(records, [expected.clone(), expected]);
}

#[test]
fn conversational_sft_messages() {
    let (_, _, records) = detected(&fixture("sft_messages.jsonl"), &chat_options());
    let Record::Sft(Sft { prompt, completion }) = &records[0] else {
        panic!("{records:?}")
    };
    assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt:?}");
    assert_eq!(completion, "It is blue.</s>");
}

#[test]
fn official_exo_sft_pref_and_rewards_json_arrays() {
    let (container, schema, records) =
        detected(&fixture("exo/sft/train.json"), &ReadOptions::default());
    assert_eq!(
        (container, schema),
        (Container::JsonArray, Some(Schema::Sft))
    );
    assert_eq!(
        records[1],
        Record::Sft(Sft {
            prompt: "This movie was one of the".into(),
            completion: " best films I have seen this year.".into()
        })
    );

    let (_, schema, records) = detected(&fixture("exo/pref/train.json"), &ReadOptions::default());
    assert_eq!(schema, Some(Schema::Preference));
    assert_eq!(
        records[0].prompt(),
        "\n\nHuman: How do I keep basil alive indoors?\n\nAssistant:"
    );

    let path = fixture("exo/rw/train.json");
    let mut reader = Reader::open(&path, &ReadOptions::default()).unwrap();
    let first = reader.next().unwrap().unwrap();
    assert_eq!(first.origin.location, Location::Line(2));
    let Record::Group(g) = &first.record else {
        panic!()
    };
    assert_eq!(g.k(), 3);
    assert_eq!(g.rewards(), [2.31, -1.87, 0.0]);
    let second = reader.next().unwrap().unwrap();
    assert_eq!(second.origin.location, Location::Line(15));
    assert!(reader.next().is_none());
    assert_eq!(
        (reader.schema(), reader.k()),
        (Some(Schema::Rewards), Some(3))
    );
}

#[test]
fn anthropic_hh_transcripts_split_at_the_first_differing_assistant_turn() {
    let (_, schema, records) = detected(&fixture("hh.jsonl"), &ReadOptions::default());
    assert_eq!(schema, Some(Schema::AnthropicHh));
    assert_eq!(
        records[0],
        pair(
            "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: How do I keep basil alive indoors?\n\nAssistant:",
            " Give it sun and water.",
            " Basil is a plant.",
        )
    );
    assert_eq!(
        records[1],
        pair(
            "\n\nHuman: What color is the sky?\n\nAssistant:",
            " It is blue.",
            " It is green."
        )
    );
}

#[test]
fn prompt_completion_sft() {
    let (_, schema, records) = detected(
        &fixture("sft_prompt_completion.jsonl"),
        &ReadOptions::default(),
    );
    assert_eq!(schema, Some(Schema::Sft));
    assert_eq!(records[0].completions(), [" blue."]);
}

#[test]
fn content_beats_extension_and_flags_beat_both() {
    let path = fixture("jsonl_named.json");
    let (container, _, records) = detected(&path, &ReadOptions::default());
    assert_eq!((container, records.len()), (Container::Jsonl, 1));
    // Forcing the schema: the same file read as an implicit-prompt file ignores `prompt`.
    let forced = ReadOptions::default().with_schema(Schema::ImplicitPrompt);
    let (_, schema, records) = detected(&fixture("trl_implicit.jsonl"), &forced);
    assert_eq!((schema, records.len()), (Some(Schema::ImplicitPrompt), 2));
    // Forcing the container: a JSON array read as JSON lines fails on its first line.
    let forced = ReadOptions::default().with_container(Container::Jsonl);
    let (_, errors) = read_all(&fixture("exo/pref/train.json"), &forced);
    assert!(
        errors[0].to_string().contains("train.json:1: invalid json"),
        "{}",
        errors[0]
    );
}

#[test]
fn pairs_become_groups_as_pref_to_rw_and_groups_become_pairs() {
    let (_, _, records) = detected(&fixture("exo/rw/train.json"), &ReadOptions::default());
    let Record::Group(g) = &records[0] else {
        panic!()
    };
    let best = g.to_pairs(exo_data::PairStrategy::BestVsWorst);
    assert_eq!(
        best,
        [Pair {
            prompt: g.prompt().into(),
            chosen: g.completions()[0].clone(),
            rejected: g.completions()[1].clone()
        }]
    );
    assert_eq!(g.to_pairs(exo_data::PairStrategy::AllPairs).len(), 3);
    let tie = Group::new("p", vec!["a".into(), "b".into()], vec![0.5, 0.5]).unwrap();
    assert!(tie.to_pairs(exo_data::PairStrategy::BestVsWorst).is_empty());
    assert!(tie.to_pairs(exo_data::PairStrategy::AllPairs).is_empty());
    let back = Group::from(Pair {
        prompt: "p".into(),
        chosen: "a".into(),
        rejected: "b".into(),
    });
    assert_eq!(
        (back.completions(), back.rewards()),
        (&["a".to_owned(), "b".to_owned()][..], &[1.0, 0.0][..])
    );
    assert!(Group::new("p", vec!["a".into()], vec![1.0]).is_err());
    assert!(Group::new("p", vec!["a".into(), "b".into()], vec![1.0]).is_err());
    assert!(Group::new("p", vec!["a".into(), "b".into()], vec![1.0, f64::NAN]).is_err());
}

#[test]
fn parquet_with_the_same_columns_streams_row_groups() {
    let path = scratch("prefs.parquet");
    let rows: Vec<(String, String, String)> = (0..25)
        .map(|i| (format!("Q{i}"), format!(" yes {i}"), format!(" no {i}")))
        .collect();
    let refs: Vec<_> = rows
        .iter()
        .map(|(p, c, r)| (p.as_str(), Some(c.as_str()), r.as_str()))
        .collect();
    write_pref_parquet(&path, &refs, 10);
    let (ok, errors) = read_all(&path, &ReadOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ok.len(), 25);
    assert_eq!(ok[24].record, pair("Q24", " yes 24", " no 24"));
    assert_eq!(ok[24].origin.location, Location::Row(25));
    let reader = Reader::open(&path, &ReadOptions::default()).unwrap();
    assert_eq!(reader.container(), Container::Parquet);
}

#[test]
fn parquet_rewards_lists() {
    let path = scratch("rw.parquet");
    write_rw_parquet(
        &path,
        &[
            ("The sky is", vec![" blue.", " green."], vec![1.5, -0.5]),
            ("Grass is", vec![" green.", " red."], vec![2.0, 0.0]),
        ],
    );
    let (ok, errors) = read_all(&path, &ReadOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    let Record::Group(g) = &ok[1].record else {
        panic!()
    };
    assert_eq!((g.prompt(), g.rewards()), ("Grass is", &[2.0, 0.0][..]));
}

#[test]
fn readers_stream_inputs_that_never_end() {
    // An endless JSONL stream and an endless JSON array: taking a few records must not read
    // (or hold) the whole input.
    struct Endless {
        unit: &'static [u8],
        head: &'static [u8],
        pos: usize,
        started: bool,
    }
    impl std::io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let src = if self.started { self.unit } else { self.head };
            let n = buf.len().min(src.len() - self.pos);
            buf[..n].copy_from_slice(&src[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == src.len() {
                self.pos = 0;
                self.started = true;
            }
            Ok(n)
        }
    }
    let jsonl = Endless {
        unit: b"{\"prompt\": \"p\", \"chosen\": \" a\", \"rejected\": \" b\"}\n",
        head: b"",
        pos: 0,
        started: true,
    };
    let reader = Reader::from_reader(
        "stdin.jsonl",
        std::io::BufReader::new(jsonl),
        Container::Jsonl,
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(reader.take(10_000).filter(Result::is_ok).count(), 10_000);
    let array = Endless {
        unit: b"{\"prompt\": \"p\", \"chosen\": \" a\", \"rejected\": \" b\"},\n",
        head: b"[\n",
        pos: 0,
        started: false,
    };
    let reader = Reader::from_reader(
        "stdin.json",
        std::io::BufReader::new(array),
        Container::JsonArray,
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(reader.take(10_000).filter(Result::is_ok).count(), 10_000);
}

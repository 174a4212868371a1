//! Tokenisation: BOS and EOS exactly once, no drift at the prompt/completion boundary, and the
//! truncation rule, on the two offline-trained fixture tokenizers.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{chat_options, fixture, gpt2_tokenizer, llama_tokenizer, read_all};
use exo_data::{
    DropReason, Example, Fit, Location, Origin, OverLength, Pair, ReadOptions, Record, Tokenizer,
    TokenizerConfig, Truncation, TruncationMode,
};

fn count(ids: &[u32], id: u32) -> usize {
    ids.iter().filter(|&&x| x == id).count()
}

fn example(prompt: &str, chosen: &str, rejected: &str) -> Example {
    Example {
        origin: Origin {
            path: Arc::from(Path::new("mem.jsonl")),
            location: Location::Line(1),
        },
        record: Record::Pair(Pair {
            prompt: prompt.into(),
            chosen: chosen.into(),
            rejected: rejected.into(),
        }),
        warnings: Vec::new(),
    }
}

#[test]
fn special_tokens_come_from_the_config_and_the_post_processor() {
    let llama = llama_tokenizer();
    let id = |t: &str| llama.inner().token_to_id(t).unwrap();
    let s = llama.special_tokens();
    assert_eq!(
        (s.bos, s.add_bos, s.eos, s.pad),
        (Some(id("<s>")), true, id("</s>"), id("<pad>"))
    );
    assert!(llama.chat_template().is_some());

    let gpt2 = gpt2_tokenizer();
    let eot = gpt2.inner().token_to_id("<|endoftext|>").unwrap();
    let s = gpt2.special_tokens();
    // No post-processor: no BOS is added; pad falls back to EOS as in the official code.
    assert_eq!(
        (s.bos, s.add_bos, s.eos, s.pad),
        (Some(eot), false, eot, eot)
    );
    assert!(gpt2.chat_template().is_none());
}

#[test]
fn add_bos_token_in_the_config_overrides_the_post_processor() {
    let inner = tokenizers::Tokenizer::from_file(fixture("tokenizer/tokenizer.json")).unwrap();
    let mut config = TokenizerConfig::default();
    config.eos_token = Some("</s>".into());
    config.add_bos_token = Some(false);
    let tok = Tokenizer::new(inner, &config, Arc::from(Path::new("t.json"))).unwrap();
    assert!(!tok.special_tokens().add_bos);
    assert_eq!(
        tok.encode_prompt("The sky is").unwrap(),
        tok.inner().encode("The sky is", false).unwrap().get_ids()
    );
}

#[test]
fn a_tokenizer_without_eos_is_refused() {
    let inner = tokenizers::Tokenizer::from_file(fixture("tokenizer-gpt2/tokenizer.json")).unwrap();
    let err = Tokenizer::new(
        inner,
        &TokenizerConfig::default(),
        Arc::from(Path::new("t.json")),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.json: tokenizer: no eos token: set eos_token in tokenizer_config.json"
    );
    let inner = tokenizers::Tokenizer::from_file(fixture("tokenizer-gpt2/tokenizer.json")).unwrap();
    let mut config = TokenizerConfig::default();
    config.eos_token = Some("<nope>".into());
    let err = Tokenizer::new(inner, &config, Arc::from(Path::new("t.json"))).unwrap_err();
    assert!(
        err.to_string()
            .contains("eos_token \"<nope>\" is not in the vocabulary"),
        "{err}"
    );
}

#[test]
fn bos_exactly_once() {
    let tok = llama_tokenizer();
    let bos = tok.special_tokens().bos.unwrap();
    for text in ["The sky is", "<s>The sky is", "<s><s>The sky is", ""] {
        let ids = tok.encode_prompt(text).unwrap();
        assert_eq!(
            (ids[0], count(&ids, bos)),
            (bos, 1),
            "{text:?}: {:?}",
            tok.tokens(&ids)
        );
    }
    // GPT-2 style: no BOS at all.
    let gpt2 = gpt2_tokenizer();
    let ids = gpt2.encode_prompt("The sky is").unwrap();
    assert_eq!(count(&ids, gpt2.special_tokens().eos), 0);
}

#[test]
fn eos_exactly_once() {
    for tok in [llama_tokenizer(), gpt2_tokenizer()] {
        let eos = tok.special_tokens().eos;
        let eos_text = tok.inner().id_to_token(eos).unwrap();
        for text in [
            " blue.".to_owned(),
            format!(" blue.{eos_text}"),
            format!(" blue.{eos_text}{eos_text}"),
        ] {
            let ids = tok.encode_completion(&text).unwrap();
            assert_eq!(
                (ids.last(), count(&ids, eos)),
                (Some(&eos), 1),
                "{text:?}: {:?}",
                tok.tokens(&ids)
            );
        }
    }
}

#[test]
fn chat_template_bos_and_eos_are_not_doubled() {
    let tok = llama_tokenizer();
    let (ok, errors) = read_all(&fixture("trl_conversational.jsonl"), &chat_options());
    assert!(errors.is_empty());
    let s = tok.special_tokens().clone();
    for ex in &ok {
        let enc = tok.encode(ex, &Truncation::default()).unwrap();
        let g = &enc.group;
        assert_eq!(
            count(&g.prompt, s.bos.unwrap()),
            1,
            "{:?}",
            tok.tokens(&g.prompt)
        );
        for c in &g.completions {
            assert_eq!(
                (c.last(), count(c, s.eos)),
                (Some(&s.eos), 1),
                "{:?}",
                tok.tokens(c)
            );
        }
    }
}

#[test]
fn prompt_and_completion_are_encoded_separately_and_joined_as_ids() {
    let tok = llama_tokenizer();
    let (prompt, completion) = ("Answer: ", "hello");
    // The fixture merges across this boundary: encoding the concatenated text moves it.
    let joint = tok
        .inner()
        .encode(format!("{prompt}{completion}"), false)
        .unwrap()
        .get_ids()
        .to_vec();
    let p = tok
        .inner()
        .encode(prompt, false)
        .unwrap()
        .get_ids()
        .to_vec();
    assert!(
        !joint.starts_with(&p),
        "fixture does not exercise drift: {:?}",
        tok.tokens(&joint)
    );

    let enc = tok
        .encode(&example(prompt, completion, "no"), &Truncation::default())
        .unwrap();
    let g = &enc.group;
    let row = g.row(0).unwrap();
    assert!(row.starts_with(&g.prompt));
    assert_eq!(g.prompt, tok.encode_prompt(prompt).unwrap());
    assert_eq!(
        row[g.prompt.len()..],
        tok.encode_completion(completion).unwrap()[..]
    );
    assert_eq!(g.rewards, [1.0, 0.0]);
    assert_eq!(enc.fit, Fit::Whole);
    assert_eq!(tok.decode(&row).unwrap(), "<s>Answer: hello</s>");
}

#[test]
fn truncation_keep_start_and_keep_end() {
    let tok = llama_tokenizer();
    let ex = example(
        "The sky is blue. Grass is green. Snow is white.",
        " It is blue.",
        " It is green.",
    );
    let full = tok.encode(&ex, &Truncation::default()).unwrap();
    let bos = tok.special_tokens().bos.unwrap();
    let p = &full.group.prompt;
    assert!(p.len() > 6);

    let keep_end = Truncation::default()
        .with_max_prompt_length(4)
        .with_mode(TruncationMode::KeepEnd);
    let enc = tok.encode(&ex, &keep_end).unwrap();
    assert_eq!(enc.fit, Fit::Truncated);
    assert_eq!(enc.group.prompt, [&[bos][..], &p[p.len() - 3..]].concat());
    assert_eq!(
        enc.prompt_len,
        p.len(),
        "lengths before truncation are reported"
    );

    let keep_start = keep_end.with_mode(TruncationMode::KeepStart);
    let enc = tok.encode(&ex, &keep_start).unwrap();
    assert_eq!(enc.group.prompt, p[..4]);

    // max_length cuts the completions at their end, so the EOS goes; the prompt is shared.
    let max_len = p.len() + 2;
    let enc = tok
        .encode(&ex, &Truncation::default().with_max_length(max_len))
        .unwrap();
    assert_eq!(enc.fit, Fit::Truncated);
    assert!(enc.group.completions.iter().all(|c| c.len() == 2));
    assert!(
        enc.group
            .completions
            .iter()
            .all(|c| !c.contains(&tok.special_tokens().eos))
    );
    assert_eq!(enc.group.prompt, *p);

    let none_left = Truncation::default().with_max_length(p.len());
    assert_eq!(
        tok.encode(&ex, &none_left).unwrap().fit,
        Fit::Dropped(DropReason::NoRoom)
    );
    let drop = Truncation::default()
        .with_max_length(max_len)
        .with_over_length(OverLength::Drop);
    let enc = tok.encode(&ex, &drop).unwrap();
    assert_eq!(enc.fit, Fit::Dropped(DropReason::RowTooLong));
    assert_eq!(
        enc.group, full.group,
        "a dropped record keeps its ids untouched"
    );
}

#[test]
fn every_fixture_format_tokenises() {
    let tok = llama_tokenizer();
    let options = ReadOptions::default().with_chat_template(tok.chat_template().unwrap());
    for name in [
        "trl_standard.jsonl",
        "trl_implicit.jsonl",
        "trl_conversational.jsonl",
        "sft_messages.jsonl",
        "sft_prompt_completion.jsonl",
        "exo/sft/train.json",
        "exo/pref/train.json",
        "exo/rw/train.json",
        "hh.jsonl",
    ] {
        let (ok, errors) = read_all(&fixture(name), &options);
        assert!(errors.is_empty() && !ok.is_empty(), "{name}: {errors:?}");
        for ex in &ok {
            let enc = tok.encode(ex, &Truncation::default()).unwrap();
            assert_eq!(enc.group.k(), ex.record.k(), "{name}");
            assert_eq!(
                enc.group.prompt[0],
                tok.special_tokens().bos.unwrap(),
                "{name}"
            );
        }
    }
}

//! Regenerates the committed tokenizer fixtures (`tests/fixtures/tokenizer*/`): a tiny
//! byte-level BPE trained offline on the fixture texts, in two flavours:
//!
//! * `tokenizer/`: Llama-style. The post-processor prepends `<s>`; `tokenizer_config.json` has
//!   `bos_token` `<s>`, `eos_token` `</s>` and a chat template that prints `{{ bos_token }}` and
//!   closes assistant turns with `{{ eos_token }}` (the two classic doubling traps).
//! * `tokenizer-gpt2/`: GPT-2-style. No post-processor, `bos_token = eos_token = <|endoftext|>`.
//!
//! Run with `cargo test -p exo-data --test make_fixtures -- --ignored`.

use std::path::Path;

use serde_json::{Value, json};
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

const SPECIAL: [&str; 6] = [
    "<pad>",
    "<s>",
    "</s>",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
];

const CORPUS: &[&str] = &[
    "The sky is blue. The sky is green. Grass is green. Grass is blue. Snow is white.",
    "Answer: hello hello hello. What color is the sky? It is blue. It is green.",
    "Water is wet. Water is dry. This movie was one of the best films I have seen this year.",
    "How do I keep basil alive indoors? Give it sun and water. Basil is a plant.",
    "user assistant system Human: Assistant:",
];

const CHAT_TEMPLATE: &str = "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}{% if m['role'] == 'assistant' %}{{ eos_token }}{% else %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

#[test]
#[ignore = "regenerates the committed fixtures"]
fn make_tokenizer_fixtures() {
    let write = |path: &Path, value: &Value| {
        let text = serde_json::to_string_pretty(value).unwrap();
        std::fs::write(path, text + "\n").unwrap();
    };
    let specials: Vec<AddedToken> = SPECIAL.iter().map(|s| AddedToken::from(*s, true)).collect();
    let mut trainer: TrainerWrapper = BpeTrainer::builder()
        .vocab_size(400)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tok.with_decoder(Some(ByteLevel::default()));
    let corpus: Vec<String> = CORPUS
        .iter()
        .flat_map(|s| std::iter::repeat_n((*s).to_owned(), 3))
        .collect();
    tok.train(&mut trainer, corpus.iter()).unwrap();
    let mut base: Value = serde_json::from_str(&tok.to_string(false).unwrap()).unwrap();

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let bos = tok.token_to_id("<s>").unwrap();
    let mut llama = base.clone();
    llama["post_processor"] = json!({
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [
            {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}
        ],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [bos], "tokens": ["<s>"]}}
    });
    write(&dir.join("tokenizer/tokenizer.json"), &llama);
    write(
        &dir.join("tokenizer/tokenizer_config.json"),
        &json!({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "chat_template": CHAT_TEMPLATE}),
    );
    base["post_processor"] = Value::Null;
    write(&dir.join("tokenizer-gpt2/tokenizer.json"), &base);
    write(
        &dir.join("tokenizer-gpt2/tokenizer_config.json"),
        &json!({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}),
    );
}

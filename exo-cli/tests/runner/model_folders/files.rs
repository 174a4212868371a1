//! The tokenizer and the other files: `tokenizer.json`, the chat template,
//! `generation_config.json`, symlink loops.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::harness::{
    LIMIT_KIB, LIMIT_SECS, edit_config, edit_tokenizer_config, fails, model_copy, sample_args,
    sample_case,
};
use super::tensors::{read_tensors, write_tensors};

/// A chat prompt, so that the chat template is rendered.
fn chat_prompts(dir: &Path) -> PathBuf {
    let path = dir.join("chat.jsonl");
    std::fs::write(
        &path,
        "{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n",
    )
    .unwrap();
    path
}

#[test]
fn tokenizer_json_malformed() {
    sample_case(
        "tokenizer-json",
        |d| std::fs::write(d.join("tokenizer.json"), "{\"model\": [").unwrap(),
        &["loading the tokenizer", "tokenizer.json"],
    );
}

#[test]
fn tokenizer_larger_than_the_model_vocabulary() {
    sample_case(
        "vocab",
        |d| {
            edit_config(d, |c| c["vocab_size"] = json!(100));
            let path = d.join("model.safetensors");
            let mut t = read_tensors(&path);
            let embed = t.get_mut("model.embed_tokens.weight").unwrap();
            embed.1 = vec![100, 64];
            embed.2.truncate(100 * 64 * 4);
            write_tensors(&path, &t);
        },
        &[
            "the tokenizer's token",
            "has id 100, outside the model's vocabulary of 100",
        ],
    );
}

#[test]
fn chat_template_that_fails_to_render() {
    let dir = model_copy("chat-render");
    edit_tokenizer_config(&dir, |c| {
        c.insert(
            "chat_template".into(),
            json!("{{ raise_exception('no chat') }}"),
        );
    });
    let prompts = chat_prompts(&dir);
    fails(
        "chat-render",
        &dir,
        &sample_args(&dir, Some(&prompts)),
        &["chat template", "no chat"],
        LIMIT_SECS,
        LIMIT_KIB,
    );
}

#[test]
fn chat_template_with_a_syntax_error() {
    sample_case(
        "chat-syntax",
        |d| {
            edit_tokenizer_config(d, |c| {
                c.insert("chat_template".into(), json!("{% for m in messages %}"));
            });
        },
        &["chat template: syntax error"],
    );
}

#[test]
fn generation_config_malformed() {
    sample_case(
        "generation-config",
        |d| std::fs::write(d.join("generation_config.json"), "{\"max_new_tokens\": 4,").unwrap(),
        &["generation_config.json: invalid json"],
    );
}

#[test]
fn symlink_loop_in_the_folder() {
    sample_case(
        "symlink-loop",
        |d| {
            std::os::unix::fs::symlink("loop-b", d.join("loop-a")).unwrap();
            std::os::unix::fs::symlink("loop-a", d.join("loop-b")).unwrap();
        },
        &["loop-a: the symlink does not resolve", "a symlink loop?"],
    );
}

#[test]
fn config_json_a_symlink_to_itself() {
    sample_case(
        "config-loop",
        |d| {
            std::fs::remove_file(d.join("config.json")).unwrap();
            std::os::unix::fs::symlink("config.json", d.join("config.json")).unwrap();
        },
        &["config.json: the symlink does not resolve"],
    );
}

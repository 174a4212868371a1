//! TRL's conventions where its users carry habits over: prompt-only conversational files, and
//! `exo eval` sampling at τ = 1 unless told otherwise.

use crate::common::{ok, run, s, scratch, sft_model};

/// A copy of the candle SFT model whose tokenizer_config.json has `template` as chat template.
fn with_chat_template(name: &str, template: Option<&str>) -> std::path::PathBuf {
    let sft = sft_model("candle");
    let dir = scratch(name);
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(sft.join(f), dir.join(f)).expect("copy the model");
    }
    let mut config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sft.join("tokenizer_config.json")).expect("tokenizer_config"),
    )
    .expect("tokenizer_config JSON");
    if let Some(t) = template {
        config["chat_template"] = serde_json::json!(t);
    }
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).expect("write");
    dir
}

const TEMPLATE: &str = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}\
                        {% if add_generation_prompt %}assistant:{% endif %}";

#[test]
fn prompt_only_conversational_files_sample_and_evaluate_with_the_chat_template() {
    let model = with_chat_template("conversational-model", Some(TEMPLATE));
    let root = scratch("conversational");
    let prompts = root.join("prompts.jsonl");
    let lines = [
        r#"{"prompt": [{"role": "user", "content": "the movie was"}]}"#,
        r#"{"prompt": [{"role": "system", "content": "be kind"}, {"role": "user", "content": "a film"}]}"#,
    ];
    std::fs::write(&prompts, lines.join("\n")).expect("write prompts");
    let samples = root.join("samples.jsonl");
    let out = ok(&[
        "sample",
        "--model",
        &s(&model),
        "--prompts",
        &s(&prompts),
        "-k",
        "2",
        "--max-new-tokens",
        "4",
        "--out",
        &s(&samples),
        "--backend",
        "candle",
    ]);
    assert!(out.contains("× 2 completions"), "{out}");
    let records = crate::common::jsonl(&samples);
    // Rendered as transformers' apply_chat_template(..., add_generation_prompt=True) would.
    assert_eq!(records[0]["prompt"], "user: the movie was\nassistant:");
    assert_eq!(
        records[1]["prompt"],
        "system: be kind\nuser: a film\nassistant:"
    );

    // exo eval reads them too, and samples at TRL's τ = 1 unless --temperature is given.
    let eval = ok(&[
        "eval",
        "--model",
        &s(&model),
        "--ref",
        &s(&model),
        "--prompts",
        &s(&prompts),
        "-n",
        "1",
        "--max-new-tokens",
        "4",
        "--json",
        "--backend",
        "candle",
    ]);
    let v: serde_json::Value = serde_json::from_str(eval.trim()).expect("eval JSON");
    assert_eq!(v["temperature"].as_f64(), Some(1.0), "{v}");
    assert_eq!(v["kl"].as_f64(), Some(0.0), "{v}");

    // Without a chat template: one clear line naming the file, the line and the field.
    let bare = with_chat_template("conversational-bare", None);
    let output = run(&[
        "sample",
        "--model",
        &s(&bare),
        "--prompts",
        &s(&prompts),
        "-k",
        "1",
        "--max-new-tokens",
        "2",
        "--out",
        &s(&root.join("never.jsonl")),
        "--backend",
        "candle",
    ]);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        err.contains(
            "prompts.jsonl:1: field \"prompt\": a conversational prompt, but the model \
                      has no chat template"
        ),
        "{err}"
    );
    assert!(!root.join("never.jsonl").exists());
}

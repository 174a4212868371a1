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

/// `--model org/name` finds the model in the Hugging Face cache HF_HOME names (the layout
/// huggingface_hub writes: blobs, a snapshot of links to them, refs/main), and a missing one
/// fails at once with one line.
#[test]
fn model_ids_resolve_from_the_local_hugging_face_cache() {
    let sft = sft_model("candle");
    let home = scratch("hf-home");
    let repo = home.join("hub").join("models--exo-test--tiny");
    let snapshot = repo.join("snapshots").join("0123abcd");
    for d in [repo.join("blobs"), snapshot.clone(), repo.join("refs")] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        let blob = repo.join("blobs").join(format!("blob-{f}"));
        std::fs::copy(sft.join(f), &blob).expect("copy");
        std::os::unix::fs::symlink(&blob, snapshot.join(f)).expect("symlink");
    }
    std::fs::write(repo.join("refs").join("main"), "0123abcd").expect("refs/main");
    let samples = home.join("samples.jsonl");
    let prompts = crate::common::demo().join("prompts-align.jsonl");
    let output = crate::common::exo()
        .env("HF_HOME", &home)
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .args([
            "sample",
            "--model",
            "exo-test/tiny",
            "--prompts",
            &s(&prompts),
            "-k",
            "1",
            "--max-new-tokens",
            "3",
            "--limit",
            "2",
            "--out",
            &s(&samples),
            "--backend",
            "candle",
        ])
        .output()
        .expect("exo runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(crate::common::jsonl(&samples).len(), 2);

    let output = crate::common::exo()
        .env("HF_HOME", &home)
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .args([
            "sample",
            "--model",
            "exo-test/absent",
            "--prompts",
            &s(&prompts),
            "--out",
            &s(&home.join("never.jsonl")),
        ])
        .output()
        .expect("exo runs");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        err.contains("exo-test/absent: no such folder, and no snapshot of the model")
            && err.contains("huggingface-cli download exo-test/absent"),
        "{err}"
    );
}

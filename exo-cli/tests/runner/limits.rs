//! The model's context is the default `--max-length`: over-long rows are cut by the documented
//! rule and counted in the summary, `--no-truncate` refuses them with the record's `file:line`,
//! and sampling refuses a prompt that leaves no room for a new token.

use crate::common::{exo, ok, s, scratch, sft_model};

/// Pairs whose 4th prompt alone fills the demo model's 64-token context and whose 6th chosen
/// completion overflows it.
fn long_pairs(dir: &std::path::Path) -> std::path::PathBuf {
    let long = vec!["great movie"; 60].join(" ");
    let path = dir.join("long.jsonl");
    let lines: Vec<String> = (0..8)
        .map(|i| {
            let prompt = if i == 3 { long.as_str() } else { "the film" };
            let chosen = " was great and fun to watch".repeat(if i == 5 { 8 } else { 1 });
            serde_json::json!({"prompt": prompt, "chosen": chosen, "rejected": " was bad"})
                .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").expect("write data");
    path
}

#[test]
fn rows_beyond_the_context_are_cut_and_counted_or_refused() {
    let dir = scratch("limits");
    let data = long_pairs(&dir);
    let model = s(sft_model("candle"));
    let args = |out: &str| -> Vec<String> {
        [
            "train",
            "--objective",
            "dpo",
            "--model",
            &model,
            "--data",
            &s(&data),
            "--out",
            &s(&dir.join(out)),
            "--max-steps",
            "1",
            "--batch-prompts",
            "2",
            "--backend",
            "candle",
            "--quiet",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect()
    };
    let a = args("cut");
    let stdout = ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        stdout.contains("7 records (1 left out")
            && stdout.contains("1 cut to --max-length / --max-prompt-length"),
        "{stdout}"
    );

    let mut refused = args("refused");
    refused.push("--no-truncate".to_owned());
    let out = exo().args(&refused).output().expect("exo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(
        stderr.trim(),
        format!(
            "exo: error: {}:4: prompt + completion over max_length (max_length 64, max_prompt_length none); --no-truncate refuses it (raise the limit, or let exo cut it)",
            data.display()
        )
    );
}

#[test]
fn sampling_refuses_a_prompt_that_fills_the_context() {
    let dir = scratch("limits-sample");
    let prompts = dir.join("prompts.jsonl");
    let long = vec!["great movie"; 60].join(" ");
    std::fs::write(
        &prompts,
        serde_json::json!({"prompt": long}).to_string() + "\n",
    )
    .expect("write prompts");
    let out = exo()
        .args([
            "sample",
            "--model",
            &s(sft_model("candle")),
            "--prompts",
            &s(&prompts),
            "--out",
            &s(&dir.join("samples.json")),
            "--backend",
            "candle",
        ])
        .output()
        .expect("exo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("prompt 1 has 181 tokens and the model's context is 64 (max_position_embeddings): no room for a new token"),
        "{stderr}"
    );
    assert!(!dir.join("samples.json").exists());
}

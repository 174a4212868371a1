//! `exo demo --quick`: every file, the table, the JSON report.

use crate::common::{demo, ok, s, scratch};

#[test]
fn the_quick_demo_writes_every_stage_and_a_table() {
    let dir = demo();
    for f in [
        "corpus.txt",
        "sft.jsonl",
        "prompts-align.jsonl",
        "prompts-eval.jsonl",
        "init/tokenizer.json",
        "init/tokenizer_config.json",
        "init/config.json",
        "sft/model.safetensors",
        "sft/config.json",
        "sft/tokenizer.json",
        "samples.json",
        "scored.json",
        "exo/model.safetensors",
        "dpo/model.safetensors",
        "exo-pair/model.safetensors",
        "exo/metrics.jsonl",
        "exo/loss.png",
        "eval/exo.json",
        "report.json",
        "reward-vs-kl.png",
        "samples.md",
        "commands.sh",
    ] {
        assert!(dir.join(f).is_file(), "{f} is missing");
    }
    let stdout =
        std::fs::read_to_string(dir.parent().expect("parent").join("stdout.txt")).expect("stdout");
    for method in ["sft", "exo", "dpo", "exo-pair"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(method)),
            "no {method} row in:\n{stdout}"
        );
    }
    assert!(stdout.contains("win rate vs SFT"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).expect("report"))
            .expect("json");
    let methods = report["methods"].as_array().expect("methods");
    assert_eq!(methods.len(), 4);
    // SFT against itself: no KL.
    assert_eq!(methods[0]["summary"]["kl"].as_f64(), Some(0.0));
    for m in methods {
        let w = m["summary"]["win_rate"].as_f64().expect("win rate");
        assert!((0.0..=1.0).contains(&w));
    }
    let stages: Vec<&str> = report["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        stages,
        [
            "corpus",
            "tokenizer",
            "sft",
            "sample",
            "score",
            "align",
            "eval"
        ]
    );
    // commands.sh lists every stage as a command.
    let sh = std::fs::read_to_string(dir.join("commands.sh")).expect("commands.sh");
    for c in [
        "exo sft ",
        "exo sample ",
        "exo score ",
        "exo train --objective exo ",
        "exo train --objective dpo ",
        "exo eval ",
    ] {
        assert!(sh.contains(c), "{c} missing from commands.sh:\n{sh}");
    }
}

#[test]
fn the_quick_demo_runs_on_libtorch_with_json_and_a_user_corpus() {
    let root = scratch("demo-tch");
    let corpus = root.join("corpus.txt");
    let lines: Vec<String> = (0..120)
        .map(|i| {
            format!(
                "Review {i} says the movie was {} and the cast was {}.",
                ["great", "awful", "fine"][i % 3],
                ["superb", "dull"][i % 2]
            )
        })
        .collect();
    std::fs::write(&corpus, lines.join("\n")).expect("corpus");
    let out = root.join("demo");
    let stdout = ok(&[
        "demo",
        "--quick",
        "--json",
        "--backend",
        "tch",
        "--corpus",
        &s(&corpus),
        "--out",
        &s(&out),
    ]);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["backend"], "tch");
    assert_eq!(report["methods"].as_array().map(Vec::len), Some(4));
    // Rerunning over a demo folder replaces it.
    ok(&[
        "demo",
        "--quick",
        "--json",
        "--backend",
        "tch",
        "--corpus",
        &s(&corpus),
        "--out",
        &s(&out),
        "--align-steps",
        "1",
    ]);
}

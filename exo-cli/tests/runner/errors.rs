//! Bad inputs to every command: a non-zero exit and one clear line on stderr.

use crate::common::{demo, run, s, scratch, sft_model};

fn fails_in_one_line(args: &[&str], needle: &str) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exo {} succeeded", args.join(" "));
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "exo {}: {err}",
        args.join(" ")
    );
    assert!(
        err.starts_with("exo: error"),
        "exo {}: {err}",
        args.join(" ")
    );
    assert!(
        err.contains(needle),
        "exo {}: expected {needle:?} in {err}",
        args.join(" ")
    );
}

#[test]
fn bad_inputs_fail_with_one_clear_line() {
    let demo = demo();
    let root = scratch("errors");
    let sft = s(sft_model("candle"));
    let (init, sft_data, scored, prompts) = (
        s(&demo.join("init")),
        s(&demo.join("sft.jsonl")),
        s(&demo.join("scored.json")),
        s(&demo.join("prompts-eval.jsonl")),
    );
    let out = s(&root.join("out"));
    let missing = s(&root.join("missing.jsonl"));
    let bad_data = root.join("bad.jsonl");
    std::fs::write(
        &bad_data,
        "{\"prompt\": \"x\", \"completion\": \" y\"}\n{\"prompt\": 3}\n",
    )
    .expect("write");
    let bad_data = s(&bad_data);
    let broken = root.join("broken.json");
    std::fs::write(&broken, "[{\"prompt\": \"x\", \"completions\": [\" a\"]},").expect("write");
    let broken = s(&broken);
    let toml = root.join("bad.toml");
    std::fs::write(&toml, "[train]\nbeta = 0.1\n").expect("write");
    let toml = s(&toml);
    let not_demo = root.join("not-demo");
    std::fs::create_dir_all(&not_demo).expect("mkdir");
    std::fs::write(not_demo.join("keep.txt"), "mine").expect("write");
    let not_demo = s(&not_demo);
    let empty = root.join("empty.txt");
    std::fs::write(&empty, "\n\n").expect("write");
    let empty = s(&empty);

    // exo sft
    fails_in_one_line(
        &["sft", "--model", &init, "--data", &missing, "--out", &out],
        "no such file",
    );
    fails_in_one_line(
        &[
            "sft",
            "--model",
            &s(&root),
            "--data",
            &sft_data,
            "--out",
            &out,
        ],
        "no config.json",
    );
    fails_in_one_line(
        &[
            "sft",
            "--model",
            &init,
            "--from-scratch",
            "--data",
            &sft_data,
            "--out",
            &out,
            "--lr=-1",
        ],
        "--lr must be",
    );
    fails_in_one_line(
        &[
            "sft",
            "--model",
            &init,
            "--from-scratch",
            "--data",
            &sft_data,
            "--out",
            &out,
            "--batch-prompts",
            "0",
        ],
        "--batch-prompts",
    );
    fails_in_one_line(
        &[
            "sft",
            "--model",
            &init,
            "--from-scratch",
            "--data",
            &bad_data,
            "--out",
            &out,
        ],
        "bad.jsonl:2",
    );
    fails_in_one_line(
        &[
            "sft",
            "--model",
            &init,
            "--data",
            &sft_data,
            "--out",
            &out,
            "--backend",
            "jax",
        ],
        "jax",
    );
    fails_in_one_line(
        &[
            "sft",
            "--model",
            &init,
            "--from-scratch",
            "--data",
            &sft_data,
            "--out",
            &out,
            "--eval-every",
            "2",
        ],
        "--eval-data",
    );
    fails_in_one_line(
        &[
            "sft",
            "--model",
            &init,
            "--from-scratch",
            "--data",
            &sft_data,
            "--out",
            &out,
            "--resume",
            &missing,
        ],
        "--resume",
    );
    fails_in_one_line(
        &["sft", "--model", &init, "--data", &sft_data, "--out", &out],
        "model.safetensors",
    );
    // exo sample
    fails_in_one_line(
        &[
            "sample",
            "--model",
            &sft,
            "--prompts",
            &prompts,
            "-k",
            "0",
            "--out",
            &out,
        ],
        "-k",
    );
    fails_in_one_line(
        &[
            "sample",
            "--model",
            &sft,
            "--prompts",
            &missing,
            "--out",
            &out,
        ],
        "no such file",
    );
    fails_in_one_line(
        &[
            "sample",
            "--model",
            &sft,
            "--prompts",
            &prompts,
            "--temperature=-1",
            "--out",
            &out,
        ],
        "--temperature",
    );
    fails_in_one_line(
        &[
            "sample",
            "--model",
            &sft,
            "--prompts",
            &prompts,
            "--top-p",
            "2",
            "--out",
            &out,
        ],
        "--top-p",
    );
    fails_in_one_line(
        &[
            "sample",
            "--model",
            &missing,
            "--prompts",
            &prompts,
            "--out",
            &out,
        ],
        "no config.json",
    );
    fails_in_one_line(
        &[
            "sample",
            "--model",
            &sft,
            "--prompts",
            &empty,
            "--out",
            &out,
        ],
        "no prompts",
    );
    // exo score
    fails_in_one_line(&["score", "--in", &missing, "--out", &out], "no such file");
    fails_in_one_line(&["score", "--in", &broken, "--out", &out], "broken.json");
    fails_in_one_line(
        &[
            "score",
            "--in",
            &scored,
            "--out",
            &out,
            "--reward-cmd",
            "exit 3",
        ],
        "failed",
    );
    fails_in_one_line(
        &[
            "score",
            "--in",
            &scored,
            "--out",
            &out,
            "--reward-cmd",
            "echo hello",
        ],
        "not a number",
    );
    fails_in_one_line(
        &["score", "--in", &scored, "--out", &out, "--reward", "bleu"],
        "bleu",
    );
    // exo train
    let train = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["train", "--model", &sft, "--data", &scored, "--out", &out]
            .iter()
            .map(|x| (*x).to_owned())
            .collect();
        a.extend(extra.iter().map(|x| (*x).to_owned()));
        a
    };
    let as_strs = |v: &[String]| -> Vec<String> { v.to_vec() };
    for (extra, needle) in [
        (&["--objective", "kto"][..], "unknown objective"),
        (&["--beta-pi", "0"], "--beta-pi"),
        (&["--epsilon", "0"], "--epsilon"),
        (&["--objective", "simpo", "--simpo-gamma=-1"], "simpo_gamma"),
        (
            &["--objective", "orpo", "--orpo-lambda", "0"],
            "orpo_lambda",
        ),
        (
            &["--objective", "discopop", "--discopop-tau", "nan"],
            "discopop_tau",
        ),
        (
            &["--objective", "bco_pair", "--bco-delta", "inf"],
            "bco_delta",
        ),
        (&["--logit-temperature", "nan"], "--logit-temperature"),
        (&["--max-steps", "0"], "--max-steps"),
        (&["--batch-prompts", "100000"], "lower --batch-prompts"),
        (&["--resume", &s(&demo.join("sft"))], "exo sft"),
    ] {
        let args = as_strs(&train(extra));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails_in_one_line(&args, needle);
    }
    fails_in_one_line(
        &["train", "--model", &sft, "--data", &sft_data, "--out", &out],
        "an SFT record",
    );
    fails_in_one_line(
        &[
            "train", "--model", &sft, "--ref", &missing, "--data", &scored, "--out", &out,
        ],
        "--ref",
    );
    fails_in_one_line(
        &[
            "train", "--config", &toml, "--model", &sft, "--data", &scored, "--out", &out,
        ],
        "unknown key `beta`",
    );
    // exo eval
    fails_in_one_line(
        &[
            "eval",
            "--model",
            &sft,
            "--ref",
            &sft,
            "--prompts",
            &prompts,
            "-n",
            "0",
        ],
        "-n",
    );
    fails_in_one_line(
        &[
            "eval",
            "--model",
            &sft,
            "--ref",
            &missing,
            "--prompts",
            &prompts,
        ],
        "--ref",
    );
    fails_in_one_line(
        &[
            "eval",
            "--model",
            &sft,
            "--ref",
            &sft,
            "--prompts",
            &prompts,
            "--ref-samples",
            &scored,
        ],
        "another prompt",
    );
    // exo demo
    fails_in_one_line(
        &["demo", "--quick", "--corpus", &missing, "--out", &out],
        "--corpus",
    );
    fails_in_one_line(
        &[
            "demo",
            "--quick",
            "--corpus",
            &empty,
            "--out",
            &s(&root.join("d1")),
        ],
        "no text",
    );
    fails_in_one_line(&["demo", "--quick", "-k", "1", "--out", &out], "-k");
    fails_in_one_line(
        &["demo", "--quick", "--out", &not_demo],
        "not written by exo demo",
    );
    assert!(
        root.join("not-demo/keep.txt").is_file(),
        "a folder exo demo did not write was touched"
    );
}

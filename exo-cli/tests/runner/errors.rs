//! Bad inputs to every command: a non-zero exit and one clear line on stderr. One test per case
//! (a table, in the style of ripgrep's `rgtest!`), so that each failure is reported on its own.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::common::{demo, run, s, scratch, sft_model};

/// The files the cases name, made once per test process: `{init}`, `{sft}`, `{sft_data}`,
/// `{scored}`, `{prompts}`, `{missing}`, `{bad_data}`, `{broken}`, `{toml}`, `{not_demo}`,
/// `{empty}`, `{root}` and `{demo_sft}`; `{out}` is a folder of each case's own.
struct Fixtures {
    root: PathBuf,
    vars: Vec<(&'static str, String)>,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let demo = demo();
        let root = scratch("errors");
        let write = |name: &str, text: &str| {
            let path = root.join(name);
            std::fs::write(&path, text).expect("write");
            s(&path)
        };
        let not_demo = root.join("not-demo");
        std::fs::create_dir_all(&not_demo).expect("mkdir");
        std::fs::write(not_demo.join("keep.txt"), "mine").expect("write");
        let vars = vec![
            ("init", s(&demo.join("init"))),
            ("sft", s(sft_model("candle"))),
            ("sft_data", s(&demo.join("sft.jsonl"))),
            ("scored", s(&demo.join("scored.json"))),
            ("prompts", s(&demo.join("prompts-eval.jsonl"))),
            ("demo_sft", s(&demo.join("sft"))),
            ("missing", s(&root.join("missing.jsonl"))),
            (
                "bad_data",
                write(
                    "bad.jsonl",
                    "{\"prompt\": \"x\", \"completion\": \" y\"}\n{\"prompt\": 3}\n",
                ),
            ),
            (
                "broken",
                write(
                    "broken.json",
                    "[{\"prompt\": \"x\", \"completions\": [\" a\"]},",
                ),
            ),
            ("toml", write("bad.toml", "[train]\nbeta = 0.1\n")),
            ("not_demo", s(&not_demo)),
            ("empty", write("empty.txt", "\n\n")),
            ("root", s(&root)),
        ];
        Fixtures { root, vars }
    })
}

/// Runs `exo args` (with the fixtures' `{name}`s filled in) and asserts a non-zero exit with one
/// line on stderr, starting `exo: error` and containing `needle`.
fn fails_in_one_line(case: &str, args: &[&str], needle: &str) {
    let f = fixtures();
    let out = s(&f.root.join(format!("out-{case}")));
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            f.vars.iter().fold(a.replace("{out}", &out), |a, (k, v)| {
                a.replace(&format!("{{{k}}}"), v)
            })
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&args);
    let err = String::from_utf8_lossy(&output.stderr);
    let cmd = args.join(" ");
    assert!(!output.status.success(), "exo {cmd} succeeded");
    assert_eq!(err.trim_end().lines().count(), 1, "exo {cmd}: {err}");
    assert!(err.starts_with("exo: error"), "exo {cmd}: {err}");
    assert!(
        err.contains(needle),
        "exo {cmd}: expected {needle:?} in {err}"
    );
}

/// One `#[test]` per case: `name: [args…] => "what stderr must contain";`.
macro_rules! error_cases {
    ($($name:ident: [$($arg:expr),* $(,)?] => $needle:expr;)*) => {
        $(
            #[test]
            fn $name() {
                fails_in_one_line(stringify!($name), &[$($arg),*], $needle);
            }
        )*
    };
}

error_cases! {
    sft_no_such_file: ["sft", "--model", "{init}", "--data", "{missing}", "--out", "{out}"] => "no such file";
    sft_no_config_json: ["sft", "--model", "{root}", "--data", "{sft_data}", "--out", "{out}"] => "no config.json";
    sft_lr_must_be: ["sft", "--model", "{init}", "--from-scratch", "--data", "{sft_data}", "--out", "{out}", "--lr=-1"] => "'--lr <LR>': must be finite and > 0";
    sft_batch_prompts: ["sft", "--model", "{init}", "--from-scratch", "--data", "{sft_data}", "--out", "{out}", "--batch-prompts", "0"] => "--batch-prompts";
    sft_bad_jsonl_2: ["sft", "--model", "{init}", "--from-scratch", "--data", "{bad_data}", "--out", "{out}"] => "bad.jsonl:2";
    sft_jax: ["sft", "--model", "{init}", "--data", "{sft_data}", "--out", "{out}", "--backend", "jax"] => "jax";
    sft_eval_data: ["sft", "--model", "{init}", "--from-scratch", "--data", "{sft_data}", "--out", "{out}", "--eval-every", "2"] => "--eval-data";
    sft_resume: ["sft", "--model", "{init}", "--from-scratch", "--data", "{sft_data}", "--out", "{out}", "--resume", "{missing}"] => "--resume";
    sft_model_safetensors: ["sft", "--model", "{init}", "--data", "{sft_data}", "--out", "{out}"] => "model.safetensors";
    sample_k: ["sample", "--model", "{sft}", "--prompts", "{prompts}", "-k", "0", "--out", "{out}"] => "'--num-completions <K>': must be at least 1";
    sample_no_such_file: ["sample", "--model", "{sft}", "--prompts", "{missing}", "--out", "{out}"] => "no such file";
    sample_temperature: ["sample", "--model", "{sft}", "--prompts", "{prompts}", "--temperature=-1", "--out", "{out}"] => "--temperature";
    sample_top_p: ["sample", "--model", "{sft}", "--prompts", "{prompts}", "--top-p", "2", "--out", "{out}"] => "--top-p";
    sample_no_config_json: ["sample", "--model", "{missing}", "--prompts", "{prompts}", "--out", "{out}"] => "no config.json";
    sample_no_prompts: ["sample", "--model", "{sft}", "--prompts", "{empty}", "--out", "{out}"] => "no prompts";
    score_no_such_file: ["score", "--in", "{missing}", "--out", "{out}"] => "no such file";
    score_broken_json: ["score", "--in", "{broken}", "--out", "{out}"] => "broken.json";
    score_failed: ["score", "--in", "{scored}", "--out", "{out}", "--reward-cmd", "exit 3"] => "failed";
    score_not_a_number: ["score", "--in", "{scored}", "--out", "{out}", "--reward-cmd", "echo hello"] => "not a number";
    score_bleu: ["score", "--in", "{scored}", "--out", "{out}", "--reward", "bleu"] => "bleu";
    train_an_sft_record: ["train", "--model", "{sft}", "--data", "{sft_data}", "--out", "{out}"] => "an SFT record";
    train_ref: ["train", "--model", "{sft}", "--ref", "{missing}", "--data", "{scored}", "--out", "{out}"] => "--ref";
    train_unknown_key_beta: ["train", "--config", "{toml}", "--model", "{sft}", "--data", "{scored}", "--out", "{out}"] => "unknown key `beta`";
    eval_n: ["eval", "--model", "{sft}", "--ref", "{sft}", "--prompts", "{prompts}", "-n", "0"] => "-n";
    eval_ref: ["eval", "--model", "{sft}", "--ref", "{missing}", "--prompts", "{prompts}"] => "--ref";
    eval_another_prompt: ["eval", "--model", "{sft}", "--ref", "{sft}", "--prompts", "{prompts}", "--ref-samples", "{scored}"] => "another prompt";
    demo_corpus: ["demo", "--quick", "--corpus", "{missing}", "--out", "{out}"] => "--corpus";
    demo_no_text: ["demo", "--quick", "--corpus", "{empty}", "--out", "{out}"] => "no text";
    demo_k: ["demo", "--quick", "-k", "1", "--out", "{out}"] => "-k";
    demo_not_written_by_exo_demo: ["demo", "--quick", "--out", "{not_demo}"] => "not written by exo demo";
    train_unknown_objective: ["train", "--model", "{sft}", "--data", "{scored}", "--out", "{out}", "--objective", "kto"] => "unknown objective";
    train_beta_pi: ["train", "--model", "{sft}", "--data", "{scored}", "--out", "{out}", "--beta-pi", "0"] => "--beta-pi";
    train_epsilon: ["train", "--model", "{sft}", "--data", "{scored}", "--out", "{out}", "--epsilon", "0"] => "--epsilon";
    train_simpo_gamma: ["train", "--model", "{sft}", "--data", "{scored}", "--out", "{out}", "--objective", "simpo", "--simpo-gamma=-1"] => "'--simpo-gamma <SIMPO_GAMMA>': must be";
    train_orpo_lambda: ["train", "--model", "{sft}", "--data", "{scored}", "--out", "{out}", "--objective", "orpo", "--orpo-lambda", "0"] => "'--orpo-lambda <ORPO_LAMBDA>': must be";
    train_discopop_tau: ["train", "--model", "{sft}", "--data", "{scored}", "--out", "{out}", "--objective", "discopop", "--discopop-tau", "nan"] => "'--discopop-tau <DISCOPOP_TAU>': must be";
    train_bco_delta: ["train", "--model", "{sft}", "--data", "{scored}", "--out", "{out}", "--objective", "bco_pair", "--bco-delta", "inf"] => "'--bco-delta <BCO_DELTA>': must be";
    train_logit_temperature: ["train", "--model", "{sft}", "--data", "{scored}", "--out", "{out}", "--logit-temperature", "nan"] => "--logit-temperature";
    train_max_steps: ["train", "--model", "{sft}", "--data", "{scored}", "--out", "{out}", "--max-steps", "0"] => "--max-steps";
    train_lower_batch_prompts: ["train", "--model", "{sft}", "--data", "{scored}", "--out", "{out}", "--batch-prompts", "100000"] => "lower --batch-prompts";
    train_exo_sft: ["train", "--model", "{sft}", "--data", "{scored}", "--out", "{out}", "--resume", "{demo_sft}"] => "exo sft";
}

#[test]
fn a_folder_exo_demo_did_not_write_is_left_alone() {
    demo_not_written_by_exo_demo();
    assert!(
        fixtures().root.join("not-demo/keep.txt").is_file(),
        "a folder exo demo did not write was touched"
    );
}

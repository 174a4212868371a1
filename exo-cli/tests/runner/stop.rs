//! One run per `--out` folder (a second run into a folder in use is refused, naming the first's
//! PID, and leaves its files alone) and the graceful stop: SIGTERM mid-run finishes the step,
//! writes its checkpoint and exits with 143 and a line saying how to resume; `--resume` then ends
//! with the uninterrupted run's weights and metrics, bit for bit, on both backends. A second
//! signal ends the run at once.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{BACKENDS, exo, ok, s, scratch, strs, tiny_train_args};

/// `exo train` of the tiny demo model for `steps` steps, a checkpoint every 5.
fn train_args(backend: &'static str, out: &Path, steps: u64, extra: &[&str]) -> Vec<String> {
    tiny_train_args(backend, out, (steps, 5), extra)
}

/// Starts `exo args…` with its stderr piped (stdout dropped).
fn spawn(args: &[String]) -> Child {
    exo()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("exo starts")
}

/// Complete lines of `out/metrics.jsonl` so far.
fn metrics_lines(out: &Path) -> usize {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .map(|t| t.matches('\n').count())
        .unwrap_or(0)
}

/// Waits (up to 5 minutes, for a loaded machine) until `out/metrics.jsonl` has `n` lines while
/// `child` runs.
fn wait_for_steps(child: &mut Child, out: &Path, n: usize) {
    let started = Instant::now();
    while metrics_lines(out) < n {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("the run ended ({status}) before step {n}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no step {n} after 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `kill -SIG pid…` (from outside, as a user or a scheduler would).
fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}: {status}");
}

/// Waits for `child` (at most 5 minutes): its exit code and stderr.
fn finish(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_second_run_into_a_folder_in_use_is_refused_and_touches_nothing() {
    let backend = "candle";
    let root = scratch("lock");
    let out = root.join("run");
    let steps = 40;
    let mut first = spawn(&train_args(backend, &out, steps, &[]));
    // Training is under way: the first run has locked the folder and cleaned it.
    wait_for_steps(&mut first, &out, 1);
    let lock = std::fs::read_to_string(out.join(".exo.lock")).expect("the lock file");
    assert!(
        lock.starts_with(&format!("pid {} on host ", first.id())),
        "{lock}"
    );
    // What a live run's temporary checkpoint looks like: not the second run's to remove.
    let tmp = out.join(".checkpoint-99.tmp-1");
    std::fs::create_dir_all(&tmp).expect("a temporary folder");

    let started = Instant::now();
    let second = exo()
        .args(train_args(backend, &out, steps, &["--resume", &s(&out)]))
        .output()
        .expect("exo runs");
    let refused_in = started.elapsed();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    let expected = format!(
        "exo: error: --out {} is in use by another exo run (pid {} on host ",
        out.display(),
        first.id()
    );
    assert!(err.starts_with(&expected), "{err}");
    assert!(
        err.trim_end()
            .ends_with("); wait for it or choose another --out"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        first.try_wait().expect("wait").is_none(),
        "the first run ended before the second was refused: make it longer"
    );
    assert!(tmp.is_dir(), "the refused run removed a temporary folder");
    assert!(
        refused_in < Duration::from_secs(60),
        "refused after {refused_in:?}"
    );
    std::fs::remove_dir_all(&tmp).expect("remove");

    let (code, err) = finish(first);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.join("model.safetensors").is_file());
    assert!(out.join(format!("checkpoint-{steps}")).is_dir());
    // The lock goes with its process: the next run in the folder may start.
    ok(&strs(&train_args(
        backend,
        &out,
        steps,
        &["--resume", &s(&out)],
    )));
    eprintln!("refused in {} ms", refused_in.as_millis());
}

#[test]
fn sigterm_mid_run_checkpoints_and_resumes_to_bit_identical_weights() {
    for backend in BACKENDS {
        sigterm_and_resume(backend);
    }
}

fn sigterm_and_resume(backend: &'static str) {
    let root = scratch(&format!("sigterm-{backend}"));
    let steps = 20;
    let straight = root.join("straight");
    ok(&strs(&train_args(backend, &straight, steps, &[])));

    let out = root.join("stopped");
    let mut child = spawn(&train_args(backend, &out, steps, &[]));
    wait_for_steps(&mut child, &out, 2);
    let sent = Instant::now();
    kill("TERM", child.id());
    let (code, err) = finish(child);
    let took = sent.elapsed();
    assert_eq!(code, Some(143), "{backend}: {err}");
    let line = err.trim_end().lines().last().unwrap_or_default().to_owned();
    let step: u64 = line
        .strip_prefix("exo: stopped by SIGTERM after step ")
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{backend}: no stop line in {err}"));
    assert!((2..steps).contains(&step), "{line}");
    let checkpoint = out.join(format!("checkpoint-{step}"));
    assert_eq!(
        line,
        format!(
            "exo: stopped by SIGTERM after step {step}; checkpoint {}; continue with the same command plus --resume {}",
            checkpoint.display(),
            out.display()
        )
    );
    assert!(checkpoint.join("trainer_state.json").is_file(), "{line}");
    assert!(!out.join(format!("checkpoint-{}", step + 1)).exists());
    assert!(
        !out.join("model.safetensors").exists(),
        "a stopped run wrote its final model"
    );
    assert_eq!(metrics_lines(&out), usize::try_from(step).expect("steps"));

    let stdout = ok(&strs(&train_args(
        backend,
        &out,
        steps,
        &["--resume", &s(&out)],
    )));
    assert!(
        stdout.contains(&format!("resumed from step {step}")),
        "{stdout}"
    );
    let a = std::fs::read(straight.join("model.safetensors")).expect("weights");
    let b = std::fs::read(out.join("model.safetensors")).expect("weights");
    assert!(
        a == b,
        "{backend}: resumed weights differ from the uninterrupted run's"
    );
    let ma = std::fs::read_to_string(straight.join("metrics.jsonl")).expect("metrics");
    let mb = std::fs::read_to_string(out.join("metrics.jsonl")).expect("metrics");
    assert_eq!(ma, mb, "{backend}: metrics differ");
    eprintln!(
        "{backend}: stopped after step {step}, {} ms after SIGTERM",
        took.as_millis()
    );
}

#[test]
fn a_second_signal_ends_the_run_at_once() {
    let root = scratch("two-signals");
    let out = root.join("run");
    let mut child = spawn(&train_args("candle", &out, 40, &[]));
    wait_for_steps(&mut child, &out, 2);
    // Two signals right behind each other (one shell, two builtins; two kinds, since two
    // pending signals of one kind are one): whichever the process handles second ends it at
    // once, with that signal's status, long before the step could finish and print its line.
    let pid = child.id();
    let status = Command::new("sh")
        .args(["-c", &format!("kill -INT {pid} && kill -TERM {pid}")])
        .status()
        .expect("sh runs");
    assert!(status.success());
    let (code, err) = finish(child);
    assert!(matches!(code, Some(130 | 143)), "{code:?}: {err}");
    assert!(!err.contains("stopped by"), "{err}");
    assert!(!out.join("model.safetensors").exists());
}

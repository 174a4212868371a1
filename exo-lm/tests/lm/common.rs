//! Shared helpers: the backends under test, fixtures, tolerances.

use std::path::PathBuf;

use exo_core::DType;
use exo_lm::{Architecture, CausalLm, LmConfig, Mode, ModelOps};

/// A backend the tests run on, with its CPU device.
pub trait TestBackend: ModelOps {
    /// The CPU device.
    fn cpu() -> Self::Device;
}

impl TestBackend for exo_candle::Candle {
    fn cpu() -> candle_core::Device {
        candle_core::Device::Cpu
    }
}

impl TestBackend for exo_tch::LibTorch {
    fn cpu() -> tch::Device {
        tch::Device::Cpu
    }
}

/// Generates `#[test]` entry points `candle::name` and `libtorch::name` for generic test
/// functions `fn name<B: TestBackend>() -> exo_lm::Result<()>` of the calling module.
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod candle {
            $(
                #[test]
                fn $name() -> exo_lm::Result<()> {
                    super::$name::<exo_candle::Candle>()
                }
            )*
        }
        mod libtorch {
            $(
                #[test]
                fn $name() -> exo_lm::Result<()> {
                    super::$name::<exo_tch::LibTorch>()
                }
            )*
        }
    };
}

/// The folder of a committed fixture (`llama`, `qwen2`, `mistral`).
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A tiny Llama-family model: V = 32, d = 16, 2 layers, 4 heads over 2 key/value heads.
pub fn tiny<B: TestBackend>(
    architecture: Architecture,
    tied: bool,
    seed: u64,
    mode: Mode,
) -> exo_lm::Result<CausalLm<B>> {
    let config = LmConfig::tiny(architecture, 32, 16, 24, 2, 4, 2, tied)?;
    CausalLm::random(config, seed, DType::F32, &B::cpu(), mode)
}

/// The largest `|a − b|`.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// The largest `|x|`.
pub fn max_abs(a: &[f64]) -> f64 {
    a.iter().map(|x| x.abs()).fold(0.0, f64::max)
}

/// Short token sequences for training and sampling tests (ids below 32).
pub fn sequences() -> Vec<Vec<u32>> {
    vec![
        vec![1, 5, 9, 13, 17, 21, 25, 29],
        vec![1, 7, 3, 7, 3, 7, 3],
        vec![1, 30, 20, 10, 4, 2],
        vec![1, 11, 12, 13, 14, 15, 16, 17, 18],
    ]
}

/// What an objective of the catalog reads besides the policy's log-probs, `[R]` each.
pub struct ObjectiveInputs<B: ModelOps> {
    /// The reference's log-probs (read only by objectives that need a reference).
    pub reference: B::Tensor,
    /// The rewards.
    pub rewards: B::Tensor,
    /// The completion lengths.
    pub lengths: B::Tensor,
    /// Completions per group.
    pub k: usize,
}

/// The loss of catalog objective `kind` (default hyper-parameters) on the policy's log-probs
/// `policy` `[R]`.
pub fn catalog_loss<B: ModelOps>(
    kind: exo_core::objective::ObjectiveKind,
    policy: &B::Tensor,
    inputs: &ObjectiveInputs<B>,
) -> exo_lm::Result<B::Tensor> {
    use exo_core::{Groups, Objective};
    let objective = kind
        .name()
        .parse::<exo_core::objective::ObjectiveSpec>()
        .and_then(|spec| spec.build(&exo_core::objective::ObjectiveConfig::default()))?;
    let rewards = Some(&inputs.rewards);
    let groups = if objective.needs_reference() {
        Groups::<B>::from_logps(policy, &inputs.reference, inputs.k, rewards)?
    } else {
        Groups::<B>::reference_free(policy, inputs.k, rewards)?
    };
    Ok(objective
        .forward(&groups.with_lengths(&inputs.lengths)?)?
        .loss)
}

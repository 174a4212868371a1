//! What a LoRA adapter is: its rank, scale and target modules.

use std::fmt;

use crate::{LmError, Result};

/// A linear layer of a decoder layer that LoRA can adapt (PEFT's `target_modules` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoraTarget {
    /// `self_attn.q_proj`.
    QProj,
    /// `self_attn.k_proj`.
    KProj,
    /// `self_attn.v_proj`.
    VProj,
    /// `self_attn.o_proj`.
    OProj,
    /// `mlp.gate_proj`.
    GateProj,
    /// `mlp.up_proj`.
    UpProj,
    /// `mlp.down_proj`.
    DownProj,
}

impl LoraTarget {
    /// Every linear layer of a decoder layer, in the order of the checkpoint (PEFT's
    /// `all-linear`, which leaves out the lm_head).
    pub const ALL: [Self; 7] = [
        Self::QProj,
        Self::KProj,
        Self::VProj,
        Self::OProj,
        Self::GateProj,
        Self::UpProj,
        Self::DownProj,
    ];

    /// The module's name (`q_proj`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::QProj => "q_proj",
            Self::KProj => "k_proj",
            Self::VProj => "v_proj",
            Self::OProj => "o_proj",
            Self::GateProj => "gate_proj",
            Self::UpProj => "up_proj",
            Self::DownProj => "down_proj",
        }
    }

    /// The module's path inside decoder layer `layer` (`model.layers.3.self_attn.q_proj`).
    pub fn path(self, layer: usize) -> String {
        let block = match self {
            Self::QProj | Self::KProj | Self::VProj | Self::OProj => "self_attn",
            Self::GateProj | Self::UpProj | Self::DownProj => "mlp",
        };
        format!("model.layers.{layer}.{block}.{}", self.name())
    }

    /// Parses a comma-separated list of module names, or `all-linear`.
    ///
    /// # Errors
    /// [`LmError::Input`] naming an unknown module, or for an empty list.
    pub fn parse_list(text: &str) -> Result<Vec<Self>> {
        let mut out = Vec::new();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if name == "all-linear" {
                out.extend(Self::ALL);
                continue;
            }
            let Some(t) = Self::ALL.iter().find(|t| t.name() == name) else {
                return Err(LmError::input(
                    "LoRA targets",
                    format!(
                        "unknown module `{name}` (one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear)"
                    ),
                ));
            };
            out.push(*t);
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err(LmError::input("LoRA targets", "no module given"));
        }
        Ok(out)
    }
}

impl fmt::Display for LoraTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A LoRA adapter's shape: rank `r`, scale `α / r`, the modules it adapts, and the dropout
/// probability `p` on the adapter's input while training (PEFT's `lora_dropout`; 0 by default).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    r: usize,
    alpha: f64,
    targets: Vec<LoraTarget>,
    dropout: f64,
}

impl LoraConfig {
    /// Rank `r ≥ 1`, `α` finite and positive, at least one target (sorted, no duplicates).
    ///
    /// # Errors
    /// [`LmError::Input`] naming the value that breaks a rule.
    pub fn new(r: usize, alpha: f64, targets: Vec<LoraTarget>) -> Result<Self> {
        if r == 0 {
            return Err(LmError::input("LoRA", "rank r must be at least 1"));
        }
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(LmError::input(
                "LoRA",
                format!("alpha must be finite and positive, got {alpha}"),
            ));
        }
        let mut targets = targets;
        targets.sort();
        targets.dedup();
        if targets.is_empty() {
            return Err(LmError::input("LoRA", "no target module"));
        }
        Ok(Self {
            r,
            alpha,
            targets,
            dropout: 0.0,
        })
    }

    /// The same adapters with dropout `p ∈ [0, 1)` on their input while training:
    ///
    /// ```text
    /// y = x · Wᵀ + b + s · (dropout_p(x) · Aᵀ) · Bᵀ,   dropout_p(x) = x ⊙ m / (1 − p),  m ~ Bernoulli(1 − p)
    /// ```
    ///
    /// as PEFT's `lora_dropout` (the base path sees `x` itself). Only a trainable model's
    /// forward pass with a dropout seed ([`crate::CausalLm::set_dropout_seed`]) drops anything.
    ///
    /// # Errors
    /// [`LmError::Input`] unless `0 ≤ p < 1`.
    pub fn with_dropout(mut self, p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(LmError::input(
                "LoRA",
                format!("dropout must be in [0, 1), got {p}"),
            ));
        }
        self.dropout = p;
        Ok(self)
    }

    /// The dropout probability `p`.
    pub fn dropout(&self) -> f64 {
        self.dropout
    }

    /// The rank `r`.
    pub fn r(&self) -> usize {
        self.r
    }

    /// `α`.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The adapted modules, in checkpoint order.
    pub fn targets(&self) -> &[LoraTarget] {
        &self.targets
    }

    /// The update's scale `α / r`.
    #[allow(clippy::cast_precision_loss)]
    pub fn scale(&self) -> f64 {
        self.alpha / self.r as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_by_name_or_all_linear() -> Result<()> {
        assert_eq!(
            LoraTarget::parse_list("all-linear")?,
            LoraTarget::ALL.to_vec()
        );
        assert_eq!(
            LoraTarget::parse_list("v_proj, q_proj,q_proj")?,
            vec![LoraTarget::QProj, LoraTarget::VProj]
        );
        assert!(LoraTarget::parse_list("lm_head").is_err());
        assert!(LoraTarget::parse_list(" , ").is_err());
        assert_eq!(LoraTarget::DownProj.path(3), "model.layers.3.mlp.down_proj");
        Ok(())
    }

    #[test]
    fn a_config_checks_its_values() {
        assert!(LoraConfig::new(0, 16.0, vec![LoraTarget::QProj]).is_err());
        assert!(LoraConfig::new(8, 0.0, vec![LoraTarget::QProj]).is_err());
        assert!(LoraConfig::new(8, f64::NAN, vec![LoraTarget::QProj]).is_err());
        assert!(LoraConfig::new(8, 16.0, Vec::new()).is_err());
        let c = LoraConfig::new(8, 16.0, vec![LoraTarget::VProj, LoraTarget::QProj]);
        assert!(c.is_ok_and(|c| c.scale() == 2.0 && c.targets()[0] == LoraTarget::QProj));
        let c = || LoraConfig::new(8, 16.0, vec![LoraTarget::QProj]);
        assert!(c().and_then(|c| c.with_dropout(1.0)).is_err());
        assert!(c().and_then(|c| c.with_dropout(-0.1)).is_err());
        assert!(
            c().and_then(|c| c.with_dropout(0.05))
                .is_ok_and(|c| c.dropout() == 0.05)
        );
    }
}

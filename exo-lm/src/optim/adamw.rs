//! AdamW (Loshchilov & Hutter 2019) with PyTorch's update rule.

use std::path::Path;

use exo_core::DType;

use exo_core::model_ops::AdamWUpdate;

use crate::error::check_hyper;
use crate::weights::{
    Deferred, HostData, HostTensor, read_safetensors, write_safetensors_deferred,
};
use crate::{Gradients, LmError, ModelOps, Params, Result};

/// AdamW hyper-parameters. The defaults are PyTorch's (`lr` 1e-3, β = (0.9, 0.999), ε = 1e-8,
/// weight decay 0.01).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// Peak learning rate `> 0` (a schedule multiplies it).
    pub lr: f64,
    /// β₁, the first-moment decay, in `[0, 1)`.
    pub beta1: f64,
    /// β₂, the second-moment decay, in `[0, 1)`.
    pub beta2: f64,
    /// ε, added to `√v̂`, `> 0`.
    pub eps: f64,
    /// Decoupled weight decay λ `≥ 0`, applied to matrices and embeddings only (never to biases
    /// or norm gains: [`crate::ParamKind::decays`]).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

impl AdamWConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`LmError::HyperParameter`] naming the first invalid field.
    pub fn validate(&self) -> Result<()> {
        check_hyper("lr", self.lr, "finite and > 0", |v| v > 0.0)?;
        check_hyper("beta1", self.beta1, "in [0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        check_hyper("beta2", self.beta2, "in [0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        check_hyper("eps", self.eps, "finite and > 0", |v| v > 0.0)?;
        check_hyper("weight_decay", self.weight_decay, "finite and >= 0", |v| {
            v >= 0.0
        })?;
        Ok(())
    }
}

/// The optimiser state: step count and, per parameter, the moments `m` and `v`.
///
/// One step at learning rate `η` (step number `t ≥ 1`, gradient `g`), as `torch.optim.AdamW`:
///
/// ```text
/// θ ← θ · (1 − η λ)                       (only for parameters that decay)
/// m ← β₁ m + (1 − β₁) g
/// v ← β₂ v + (1 − β₂) g²
/// θ ← θ − η · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
/// ```
///
/// The update is computed on detached values and written into the parameters in place
/// ([`ModelOps::assign`]), so it records no graph and every handle on the parameters sees it.
///
/// **Mixed precision**: for a bf16 or f16 parameter the optimiser keeps an f32 **master copy**
/// `θ₃₂` (made from the parameter at its first update) and f32 moments; the gradient is f32
/// ([`Gradients`] upcasts it). The update above runs on `θ₃₂`, and the parameter receives
/// `θ₃₂` rounded to its dtype, so updates smaller than the parameter's rounding step are not
/// lost.
#[derive(Debug)]
pub struct AdamW<B: ModelOps> {
    config: AdamWConfig,
    step: u64,
    moments: Vec<Option<Slot<B>>>,
}

/// One parameter's optimiser state.
#[derive(Debug, Clone)]
struct Slot<B: ModelOps> {
    m: B::Tensor,
    v: B::Tensor,
    /// The f32 master copy of a bf16/f16 parameter.
    master: Option<B::Tensor>,
}

impl<B: ModelOps> AdamW<B> {
    /// A fresh optimiser for `params`.
    ///
    /// # Errors
    /// [`LmError::HyperParameter`] if the config is invalid.
    pub fn new(params: &Params<B>, config: AdamWConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            step: 0,
            moments: vec![None; params.len()],
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// How many steps have been taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Applies one update at learning rate `lr` (the schedule's, not `config.lr`).
    ///
    /// # Errors
    /// [`LmError::Input`] if `grads` does not match `params`; [`LmError::HyperParameter`] if
    /// `lr` is negative or not finite; a tensor error if an op fails (for example a frozen
    /// parameter, which cannot be assigned).
    pub fn step(&mut self, params: &Params<B>, grads: &Gradients<B>, lr: f64) -> Result<()> {
        check_hyper("lr", lr, "finite and >= 0", |v| v >= 0.0)?;
        if params.len() != self.moments.len() || grads.tensors().len() != self.moments.len() {
            return Err(LmError::input(
                "AdamW::step",
                format!(
                    "{} parameters and {} gradients for an optimiser built for {}",
                    params.len(),
                    grads.tensors().len(),
                    self.moments.len()
                ),
            ));
        }
        self.step += 1;
        let c = self.config;
        for ((param, g), state) in params.iter().zip(grads.tensors()).zip(&mut self.moments) {
            let dtype = B::dtype(&param.tensor)?;
            let g = &exo_core::upcast::<B>(g)?;
            let (m, v, master) = match state.take() {
                Some(slot) => (slot.m, slot.v, slot.master),
                None => (B::mul_scalar(g, 0.0)?, B::mul_scalar(g, 0.0)?, None),
            };
            let theta = match master {
                Some(master) => master,
                None => exo_core::upcast::<B>(&B::detach(&param.tensor)?)?,
            };
            let update = AdamWUpdate::at_step(
                (c.beta1, c.beta2),
                c.eps,
                self.step,
                lr,
                (param.kind.decays() && c.weight_decay > 0.0).then_some(c.weight_decay),
            );
            let (theta, m, v) = B::adamw_update(theta, m, v, g, &update)?;
            let master = if dtype.is_half() {
                B::assign(&param.tensor, &B::to_dtype(&theta, dtype)?)?;
                Some(theta)
            } else {
                B::assign(&param.tensor, &theta)?;
                None
            };
            *state = Some(Slot { m, v, master });
        }
        Ok(())
    }
}

/// The optimiser state on the host, for checkpoints: the step count and, per parameter (in
/// [`Params`] order), the moments `(m, v)` in their host form (`None` before the parameter's
/// first update) and the f32 master copy of a bf16/f16 parameter. Restoring it with
/// [`AdamW::from_state`] continues bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamWState {
    /// Steps taken.
    pub step: u64,
    /// `(m, v)` per parameter.
    pub moments: Vec<Option<(HostTensor, HostTensor)>>,
    /// The master copy per parameter (`None` for f32/f64 parameters and before the first
    /// update).
    pub masters: Vec<Option<HostTensor>>,
}

/// A tensor's values on the host, exactly: `f64` for f64 tensors, `f32` otherwise (f16 and bf16
/// widen exactly).
fn download<B: ModelOps>(t: &B::Tensor) -> Result<HostTensor> {
    let shape = B::dims(t);
    let data = match B::dtype(t)? {
        DType::F64 => HostData::F64(B::to_f64s(t)?),
        _ => HostData::F32(B::to_f32s(t)?),
    };
    Ok(HostTensor { shape, data })
}

/// Uploads `host` in the dtype the optimiser keeps for the parameter `like` (f32 for bf16/f16,
/// the parameter's otherwise), on its device.
fn upload_like<B: ModelOps>(host: &HostTensor, like: &B::Tensor) -> Result<B::Tensor> {
    let (dtype, device) = (B::dtype(like)?.accumulate(), B::device(like));
    Ok(match &host.data {
        HostData::F32(v) => B::from_f32s(v, &host.shape, dtype, &device)?,
        HostData::F64(v) => B::from_f64s(v, &host.shape, dtype, &device)?,
    })
}

impl<B: ModelOps> AdamW<B> {
    /// The state on the host (see [`AdamWState`]).
    ///
    /// # Errors
    /// If a download fails.
    pub fn state(&self) -> Result<AdamWState> {
        let mut moments = Vec::with_capacity(self.moments.len());
        let mut masters = Vec::with_capacity(self.moments.len());
        for slot in &self.moments {
            match slot {
                Some(slot) => {
                    moments.push(Some((download::<B>(&slot.m)?, download::<B>(&slot.v)?)));
                    masters.push(slot.master.as_ref().map(download::<B>).transpose()?);
                }
                None => {
                    moments.push(None);
                    masters.push(None);
                }
            }
        }
        Ok(AdamWState {
            step: self.step,
            moments,
            masters,
        })
    }

    /// An optimiser for `params` that continues from `state` (uploaded in each parameter's
    /// dtype, on its device).
    ///
    /// # Errors
    /// [`LmError::HyperParameter`] if the config is invalid; [`LmError::Input`] if the state has
    /// a different number of parameters or a moment's shape differs from its parameter's.
    pub fn from_state(params: &Params<B>, config: AdamWConfig, state: &AdamWState) -> Result<Self> {
        const OP: &str = "AdamW::from_state";
        config.validate()?;
        if state.moments.len() != params.len() || state.masters.len() != params.len() {
            return Err(LmError::input(
                OP,
                format!(
                    "the state has {} parameters, the model {}",
                    state.moments.len(),
                    params.len()
                ),
            ));
        }
        let mut moments = Vec::with_capacity(params.len());
        for ((param, mv), master) in params.iter().zip(&state.moments).zip(&state.masters) {
            let half = B::dtype(&param.tensor)?.is_half();
            moments.push(match mv {
                None => None,
                Some((m, v)) => {
                    let want = B::dims(&param.tensor);
                    if m.shape != want || v.shape != want || m.len() != v.len() {
                        return Err(LmError::input(
                            OP,
                            format!(
                                "the moments of {} have shapes {:?} and {:?}, the parameter {want:?}",
                                param.name, m.shape, v.shape
                            ),
                        ));
                    }
                    let master = match (master, half) {
                        (Some(w), true) if w.shape == want => {
                            Some(upload_like::<B>(w, &param.tensor)?)
                        }
                        (None, false) => None,
                        (Some(_), false) => {
                            return Err(LmError::input(
                                OP,
                                format!(
                                    "the state has a master copy of {}, which is not 16-bit",
                                    param.name
                                ),
                            ));
                        }
                        _ => {
                            return Err(LmError::input(
                                OP,
                                format!(
                                    "the state lacks the f32 master copy of {} (or its shape differs)",
                                    param.name
                                ),
                            ));
                        }
                    };
                    Some(Slot {
                        m: upload_like::<B>(m, &param.tensor)?,
                        v: upload_like::<B>(v, &param.tensor)?,
                        master,
                    })
                }
            });
        }
        Ok(Self {
            config,
            step: state.step,
            moments,
        })
    }

    /// Saves the state to a safetensors file, atomically (PyTorch's names: `exp_avg.<param>`,
    /// `exp_avg_sq.<param>`, and the step count as the one-element f64 tensor `step`; the f32
    /// master copy of a bf16/f16 parameter as `master.<param>`).
    ///
    /// # Errors
    /// If a download or the write fails.
    pub fn save(&self, params: &Params<B>, path: &Path) -> Result<()> {
        // Each tensor is downloaded when the file reaches it: one host copy at a time.
        fn deferred<B: ModelOps>(t: &B::Tensor) -> Result<Deferred<'_>> {
            let wide = B::dtype(t)? == DType::F64;
            Ok(Deferred::new(B::dims(t), wide, move || {
                download::<B>(t).map(|h| h.data)
            }))
        }
        #[allow(clippy::cast_precision_loss)]
        let step = [self.step as f64];
        let mut tensors = vec![(
            "step".to_owned(),
            Deferred::new(vec![1], true, move || Ok(HostData::F64(step.to_vec()))),
        )];
        for (param, slot) in params.iter().zip(&self.moments) {
            let Some(slot) = slot else { continue };
            tensors.push((format!("exp_avg.{}", param.name), deferred::<B>(&slot.m)?));
            tensors.push((
                format!("exp_avg_sq.{}", param.name),
                deferred::<B>(&slot.v)?,
            ));
            if let Some(w) = &slot.master {
                tensors.push((format!("master.{}", param.name), deferred::<B>(w)?));
            }
        }
        write_safetensors_deferred(path, &tensors, None)
    }

    /// Loads a state saved by [`AdamW::save`] for `params`.
    ///
    /// # Errors
    /// If the file cannot be read, lacks the step, holds a moment of an unknown parameter or of
    /// the wrong shape, or the config is invalid.
    pub fn load(params: &Params<B>, config: AdamWConfig, path: &Path) -> Result<Self> {
        let mut tensors: std::collections::BTreeMap<String, HostTensor> =
            read_safetensors(path)?.into_iter().collect();
        let step = match tensors.remove("step").map(|t| t.data) {
            Some(HostData::F64(v)) if v.len() == 1 && v[0] >= 0.0 && v[0].fract() == 0.0 => {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let step = v[0] as u64;
                step
            }
            _ => {
                return Err(LmError::weights(
                    path,
                    "step",
                    "missing, or not one whole f64",
                ));
            }
        };
        let mut moments = Vec::with_capacity(params.len());
        let mut masters = Vec::with_capacity(params.len());
        for param in params.iter() {
            masters.push(tensors.remove(&format!("master.{}", param.name)));
            let m = tensors.remove(&format!("exp_avg.{}", param.name));
            let v = tensors.remove(&format!("exp_avg_sq.{}", param.name));
            moments.push(match (m, v) {
                (Some(m), Some(v)) => Some((m, v)),
                // Every parameter gets its moments at the first step (a model trains all of
                // its parameters or none): a parameter without them after a step means the
                // state belongs to another model.
                (None, None) if step == 0 => None,
                (None, None) => {
                    return Err(LmError::weights(
                        path,
                        &param.name,
                        "has no moments after a step: the state is for another model",
                    ));
                }
                _ => {
                    return Err(LmError::weights(
                        path,
                        &param.name,
                        "has one moment but not the other",
                    ));
                }
            });
        }
        if let Some(name) = tensors.keys().next() {
            return Err(LmError::weights(
                path,
                name,
                "not a moment of this model's parameters",
            ));
        }
        Self::from_state(
            params,
            config,
            &AdamWState {
                step,
                moments,
                masters,
            },
        )
    }
}

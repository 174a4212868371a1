//! [`FitJob`]: the training loop ([`fit`]) as one [`BackendJob`], for the losses that need
//! nothing but the loop (`exo sft`'s and `exo rm`'s; `exo train` also fills its reference cache
//! on the backend first).

use exo_lm::ModelOps;

use super::backend::BackendJob;
use super::data::Order;
use super::rm::RmLoss;
use super::sft::SftLoss;
use super::trainer::{FitReport, Plan, fit};

/// A loss that trains on every backend: [`StepLoss<B>`](super::trainer::StepLoss) for each `B`, said once per loss type
/// (a bound cannot ask for `StepLoss<B>` for every `B`).
pub trait AnyBackendLoss {
    /// [`fit`] with this loss on backend `B`.
    ///
    /// # Errors
    /// As [`fit`].
    fn fit_on<B: ModelOps>(
        &self,
        plan: &Plan,
        order: &mut Order,
        device: &B::Device,
    ) -> anyhow::Result<FitReport>;
}

/// Implements [`AnyBackendLoss`] for loss types whose `StepLoss<B>` holds for every `B`.
macro_rules! any_backend_loss {
    ($($loss:ident),*) => {$(
        impl AnyBackendLoss for $loss<'_> {
            fn fit_on<B: ModelOps>(
                &self,
                plan: &Plan,
                order: &mut Order,
                device: &B::Device,
            ) -> anyhow::Result<FitReport> {
                fit::<B, _>(plan, order, self, device)
            }
        }
    )*};
}
any_backend_loss!(SftLoss, RmLoss);

/// The loop of `plan` with `loss` over `order`, on the backend that [`super::backend::dispatch`]
/// picks.
pub struct FitJob<'a, L> {
    /// The run's plan.
    pub plan: &'a Plan,
    /// The micro-batches.
    pub order: &'a mut Order,
    /// The loss.
    pub loss: &'a L,
}

impl<L: AnyBackendLoss> BackendJob for FitJob<'_, L> {
    type Output = FitReport;
    type Error = anyhow::Error;

    fn run<B: ModelOps>(self, device: &B::Device) -> anyhow::Result<FitReport> {
        self.loss.fit_on::<B>(self.plan, self.order, device)
    }
}

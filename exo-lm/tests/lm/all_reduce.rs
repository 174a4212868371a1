//! The data-parallel gradient all-reduce on the CPU: over a world of threads it is the exact
//! mean, and CPU gradients take the host path even when the collective also offers a device
//! transport (NCCL's), with the same bits. (The device path itself needs a GPU: tests/tests/nccl.)

use std::thread;

use exo_core::collective::{Collective, DeviceBuffer, DeviceCollective, ReduceOp};
use exo_core::testing::ThreadWorld;
use exo_core::{DType, Error};
use exo_lm::optim::all_reduce_mean;
use exo_lm::{Architecture, CausalLm, Gradients, LmConfig, Mode, TokenBatch};

use crate::common::{TestBackend, sequences};

/// The gradients of rank `rank`: the NLL gradient of the tiny model (in `dtype`) on one
/// sequence of its own.
fn rank_grads<B: TestBackend>(rank: usize, dtype: DType) -> exo_lm::Result<Gradients<B>> {
    let config = LmConfig::tiny(Architecture::Llama, 32, 16, 24, 2, 4, 2, false)?;
    let model = CausalLm::<B>::random(config, 7, dtype, &B::cpu(), Mode::Trainable)?;
    let batch = TokenBatch::right_padded(&sequences()[rank..=rank], 0)?;
    model.params().grad(&model.nll_loss(&batch)?)
}

fn values<B: TestBackend>(grads: &Gradients<B>) -> exo_lm::Result<Vec<Vec<f32>>> {
    Ok(grads
        .tensors()
        .iter()
        .map(B::to_f32s)
        .collect::<Result<_, _>>()?)
}

/// A device transport that must not be used: CPU gradients go through the host.
#[derive(Debug)]
struct Unused;

impl DeviceCollective for Unused {
    fn device_ordinal(&self) -> usize {
        0
    }

    fn all_reduce_device(&self, _: &mut DeviceBuffer<'_>, _: ReduceOp) -> exo_core::Result<()> {
        Err(Error::Collective {
            op: "all_reduce",
            message: "the device transport was used for CPU gradients".into(),
        })
    }
}

/// A host world that also offers a device transport, as NCCL's does.
#[derive(Debug)]
struct OffersDevice(ThreadWorld);

impl Collective for OffersDevice {
    fn name(&self) -> &'static str {
        "offers-device"
    }
    fn rank(&self) -> usize {
        self.0.rank()
    }
    fn world_size(&self) -> usize {
        self.0.world_size()
    }
    fn all_reduce_f32(&self, buf: &mut [f32], op: ReduceOp) -> exo_core::Result<()> {
        self.0.all_reduce_f32(buf, op)
    }
    fn all_reduce_f64(&self, buf: &mut [f64], op: ReduceOp) -> exo_core::Result<()> {
        self.0.all_reduce_f64(buf, op)
    }
    fn broadcast(&self, buf: &mut Vec<u8>, root: usize) -> exo_core::Result<()> {
        self.0.broadcast(buf, root)
    }
    fn all_gather(&self, mine: &[u8]) -> exo_core::Result<Vec<Vec<u8>>> {
        self.0.all_gather(mine)
    }
    fn barrier(&self) -> exo_core::Result<()> {
        self.0.barrier()
    }
    fn device_collective(&self) -> Option<&dyn DeviceCollective> {
        Some(&Unused)
    }
}

/// What each of two ranks got: its own gradients, their mean through the plain host world and
/// through the world that also offers a device transport.
type Seen = (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<Vec<f32>>);

fn two_ranks<B: TestBackend>() -> exo_lm::Result<Vec<Seen>> {
    ThreadWorld::new(2)
        .into_iter()
        .map(|w| {
            thread::spawn(move || -> exo_lm::Result<Seen> {
                let grads = rank_grads::<B>(w.rank(), DType::F32)?;
                let own = values(&grads)?;
                let mut plain = grads.clone();
                all_reduce_mean(&mut plain, &w)?;
                let offers = OffersDevice(w);
                let mut host = grads;
                all_reduce_mean(&mut host, &offers)?;
                Ok((own, values(&plain)?, values(&host)?))
            })
        })
        .collect::<Vec<_>>() // every rank runs before any is joined
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .collect()
}

fn the_mean_over_ranks_through_the_host<B: TestBackend>() -> exo_lm::Result<()> {
    let seen = two_ranks::<B>()?;
    let (own0, plain0, host0) = &seen[0];
    let (own1, plain1, host1) = &seen[1];
    assert_ne!(own0, own1, "the ranks' gradients differ");
    for (p, (a, b)) in plain0.iter().zip(own0.iter().zip(own1)) {
        let mean: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect();
        assert_eq!(p, &mean, "sum, then one division, in f32");
    }
    assert_eq!(plain0, plain1, "every rank gets the same bits");
    // CPU gradients: the device transport on offer is not used, and nothing changes.
    assert_eq!(host0, plain0);
    assert_eq!(host1, plain1);
    Ok(())
}

/// f64 gradients travel as f64.
fn f64_gradients_travel_as_f64<B: TestBackend>() -> exo_lm::Result<()> {
    let outcomes: Vec<exo_lm::Result<Vec<Vec<f64>>>> = ThreadWorld::new(2)
        .into_iter()
        .map(|w| {
            thread::spawn(move || {
                let mut grads = rank_grads::<B>(w.rank(), DType::F64)?;
                all_reduce_mean(&mut grads, &OffersDevice(w))?;
                grads
                    .tensors()
                    .iter()
                    .map(|g| Ok(B::to_f64s(g)?))
                    .collect::<exo_lm::Result<Vec<_>>>()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .collect();
    let mut outcomes = outcomes.into_iter();
    let (Some(a), Some(b)) = (outcomes.next(), outcomes.next()) else {
        panic!("two ranks");
    };
    let (a, b) = (a?, b?);
    assert_eq!(a, b);
    // Not f32 values: some element has bits below f32's precision.
    assert!(a.iter().flatten().any(|&x| f64::from(x as f32) != x));
    Ok(())
}

per_backend!(
    the_mean_over_ranks_through_the_host,
    f64_gradients_travel_as_f64
);

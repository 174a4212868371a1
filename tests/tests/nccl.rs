//! Gradients all-reduced on the GPU through NCCL (exo-lm's device path) on libtorch tensors,
//! against the host path. On a host without a CUDA driver, NCCL or enough GPUs these tests print
//! why they skipped and pass; `EXO_NCCL_REQUIRE=1` (set by scripts/gpu-check.sh on GPU hosts)
//! turns a missing driver, device or NCCL library into a failure instead. Built with CUDA link
//! flags by scripts/gpu-check.sh (`EXO_TCH_CUDA=1`), so that libtorch sees the GPU.

use std::sync::atomic::{AtomicUsize, Ordering};

use exo_core::collective::{Collective, DeviceBuffer, DeviceCollective, ReduceOp, Single};
use exo_core::{DType, Error, ModelOps, TensorOps};
use exo_lm::optim::all_reduce_mean;
use exo_lm::{Architecture, CausalLm, Gradients, LmConfig, Mode};
use exo_nccl::NcclCollective;
use exo_nccl::testing::{all_or_skip, has_gpus, on_threads, skip};
use exo_tch::{LibTorch, TchTensor};

/// libtorch's CUDA device `ordinal`, or why there is none.
fn cuda(ordinal: usize) -> Result<tch::Device, String> {
    exo_tch::cuda_device(ordinal).ok_or_else(|| {
        format!(
            "libtorch sees {} CUDA device(s) (is this binary linked with EXO_TCH_CUDA=1?), the \
             test needs cuda:{ordinal}",
            tch::Cuda::device_count()
        )
    })
}

/// NCCL's device transport, counting its calls; its host buffers are refused, so that a test
/// through it proves that the device path was taken.
#[derive(Debug)]
struct DeviceOnly<'a> {
    nccl: &'a NcclCollective,
    calls: AtomicUsize,
}

impl DeviceCollective for DeviceOnly<'_> {
    fn device_ordinal(&self) -> usize {
        DeviceCollective::device_ordinal(self.nccl)
    }

    fn all_reduce_device(&self, buf: &mut DeviceBuffer<'_>, op: ReduceOp) -> exo_core::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.nccl.all_reduce_device(buf, op)
    }
}

fn host_refused<T>() -> exo_core::Result<T> {
    Err(Error::Collective {
        op: "all_reduce",
        message: "the host path was taken".into(),
    })
}

impl Collective for DeviceOnly<'_> {
    fn name(&self) -> &'static str {
        "device-only"
    }
    fn rank(&self) -> usize {
        self.nccl.rank()
    }
    fn world_size(&self) -> usize {
        self.nccl.world_size()
    }
    fn all_reduce_f32(&self, _: &mut [f32], _: ReduceOp) -> exo_core::Result<()> {
        host_refused()
    }
    fn all_reduce_f64(&self, _: &mut [f64], _: ReduceOp) -> exo_core::Result<()> {
        host_refused()
    }
    fn broadcast(&self, _: &mut Vec<u8>, _: usize) -> exo_core::Result<()> {
        host_refused()
    }
    fn all_gather(&self, _: &[u8]) -> exo_core::Result<Vec<Vec<u8>>> {
        host_refused()
    }
    fn barrier(&self) -> exo_core::Result<()> {
        host_refused()
    }
    fn device_collective(&self) -> Option<&dyn DeviceCollective> {
        Some(self)
    }
}

/// World size 1 on cuda:0 (bootstrap `Single`): a libtorch tensor reduced in its device memory
/// through NCCL is unchanged, for Sum and Mean, f32 and f64, contiguous or not; a CPU tensor is
/// an error, not a crash.
#[test]
fn world_of_one_on_gpu_0_tch_tensors() {
    const TEST: &str = "world_of_one_on_gpu_0_tch_tensors";
    let world = match NcclCollective::new(&Single, 0) {
        Ok(world) => world,
        Err(e) => return skip(TEST, &e.to_string()),
    };
    let device = match cuda(0) {
        Ok(device) => device,
        Err(why) => return skip(TEST, &why),
    };
    let dc = world
        .device_collective()
        .expect("NCCL offers a device transport");
    assert_eq!(LibTorch::cuda_ordinal(&device), Some(0));
    assert_eq!(LibTorch::cuda_ordinal(&tch::Device::Cpu), None);
    let values: Vec<f64> = (0..1000)
        .map(|i| (f64::from(i) * 0.37).sin() * 1e3)
        .collect();
    for dtype in [DType::F32, DType::F64] {
        for op in [ReduceOp::Sum, ReduceOp::Mean] {
            let t = LibTorch::from_f64s(&values, &[10, 100], dtype, &device).unwrap();
            let want = LibTorch::to_f64s(&t).unwrap();
            let out = LibTorch::all_reduce_device(t, dc, op).unwrap();
            assert_eq!(LibTorch::to_f64s(&out).unwrap(), want, "{dtype:?} {op:?}");
            // Not contiguous: reduced in a contiguous copy.
            let t = LibTorch::from_f64s(&values, &[10, 100], dtype, &device).unwrap();
            let tt = TchTensor(t.0.f_transpose(0, 1).unwrap());
            let want = LibTorch::to_f64s(&tt).unwrap();
            let out = LibTorch::all_reduce_device(tt, dc, op).unwrap();
            assert_eq!(
                LibTorch::to_f64s(&out).unwrap(),
                want,
                "{dtype:?} {op:?} transposed"
            );
        }
    }
    let empty = LibTorch::from_f64s(&[], &[0], DType::F32, &device).unwrap();
    assert!(LibTorch::all_reduce_device(empty, dc, ReduceOp::Sum).is_ok());
    let half = LibTorch::from_f64s(&values, &[1000], DType::BF16, &device).unwrap();
    assert!(LibTorch::all_reduce_device(half, dc, ReduceOp::Sum).is_err());
    let on_cpu = LibTorch::from_f64s(&values, &[1000], DType::F32, &tch::Device::Cpu).unwrap();
    let message = LibTorch::all_reduce_device(on_cpu, dc, ReduceOp::Sum)
        .unwrap_err()
        .to_string();
    assert!(message.contains("CUDA"), "{message}");
    eprintln!("{TEST}: ran on GPU 0: {world:?}");
}

/// A tiny Llama whose embedding (V = 2^17, d = 64: 32 MiB in f32) is a bucket of its own, on
/// `device` in `dtype`, and rank `rank`'s gradients of
/// `(rank + 1) · Σ_p Σ p² + Σ_p Σ p`.
#[allow(clippy::unwrap_used, clippy::expect_used)] // test helper: a failure is a test failure
fn rank_grads(rank: usize, dtype: DType, device: tch::Device) -> Gradients<LibTorch> {
    let config = LmConfig::tiny(Architecture::Llama, 1 << 17, 64, 96, 2, 4, 2, false).unwrap();
    let model = CausalLm::<LibTorch>::random(config, 11, dtype, &device, Mode::Trainable).unwrap();
    let mut loss: Option<TchTensor> = None;
    for p in model.params().iter() {
        let sq = LibTorch::sum_all(&LibTorch::mul(&p.tensor, &p.tensor).unwrap()).unwrap();
        let term = LibTorch::add(
            &LibTorch::mul_scalar(&sq, rank as f64 + 1.0).unwrap(),
            &LibTorch::sum_all(&p.tensor).unwrap(),
        )
        .unwrap();
        loss = Some(match loss {
            Some(l) => LibTorch::add(&l, &term).unwrap(),
            None => term,
        });
    }
    model.params().grad(&loss.expect("parameters")).unwrap()
}

#[allow(clippy::unwrap_used, clippy::expect_used)] // test helper: a failure is a test failure
fn host_values(grads: &Gradients<LibTorch>) -> Vec<Vec<f64>> {
    grads
        .tensors()
        .iter()
        .map(|g| LibTorch::to_f64s(g).unwrap())
        .collect()
}

/// What one rank of the two-GPU test saw, per dtype: the host path's mean, the device path's, and
/// the number of NCCL calls of the device path.
type Seen = Vec<(DType, Vec<Vec<f64>>, Vec<Vec<f64>>, usize)>;

/// World size 2 on GPUs 0 and 1, one thread each, rendezvous through a `ThreadWorld` (`exo_nccl::testing::on_threads`): exo-lm's
/// all-reduce of libtorch gradients on the GPU (NCCL, one call per bucket) equals its host path
/// (the same gradients through the threads' host buffers, sum then one division), bit for bit:
/// with two ranks NCCL's average `x/2 + y/2` is the host's `(x + y)/2`.
#[test]
fn two_gpus_device_all_reduce_equals_the_host_path() {
    const TEST: &str = "two_gpus_device_all_reduce_equals_the_host_path";
    if !has_gpus(TEST, 2) {
        return;
    }
    if let Err(why) = cuda(1) {
        return skip(TEST, &why);
    }
    let outcomes: Vec<exo_core::Result<Seen>> = on_threads(2, |w| {
        let rank = w.rank();
        let nccl = NcclCollective::new(&w, rank)?;
        let device = tch::Device::Cuda(rank);
        let mut seen = Vec::new();
        for dtype in [DType::F32, DType::F64] {
            let grads = rank_grads(rank, dtype, device);
            let before = host_values(&grads);
            let mut host = grads.clone();
            all_reduce_mean(&mut host, &w).unwrap();
            let spy = DeviceOnly {
                nccl: &nccl,
                calls: AtomicUsize::new(0),
            };
            let mut on_gpu = grads.clone();
            all_reduce_mean(&mut on_gpu, &spy).unwrap();
            // The reduction wrote into memory of its own: the inputs are unchanged.
            assert_eq!(host_values(&grads), before);
            for g in on_gpu.tensors() {
                assert_eq!(g.0.device(), device);
            }
            seen.push((
                dtype,
                host_values(&host),
                host_values(&on_gpu),
                spy.calls.load(Ordering::SeqCst),
            ));
        }
        Ok(seen)
    });
    let Some(seen) = all_or_skip(TEST, outcomes) else {
        return;
    };
    for (rank, per_dtype) in seen.iter().enumerate() {
        for (dtype, host, on_gpu, calls) in per_dtype {
            // The embedding alone (over 25 MiB), then the layers, the norm and the head (the
            // bucket was below 25 MiB when the head joined it): a one-tensor and a joined bucket.
            assert_eq!(*calls, 2, "rank {rank} {dtype:?}: one NCCL call per bucket");
            assert_eq!(host.len(), on_gpu.len());
            for (i, (h, d)) in host.iter().zip(on_gpu).enumerate() {
                assert!(h == d, "rank {rank} {dtype:?}: gradient {i} differs");
            }
        }
    }
    assert_eq!(seen[0], seen[1], "both ranks hold the same bits");
    eprintln!("{TEST}: ran on GPUs 0 and 1");
}

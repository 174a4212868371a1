//! NcclCollective end to end. On a host without a CUDA driver, NCCL or enough GPUs the GPU tests
//! print why they skipped and pass; `EXO_NCCL_REQUIRE=1` (set by scripts/gpu-check.sh on GPU
//! hosts) turns a missing driver, device or NCCL library into a failure instead.

use exo_core::DType;
use exo_core::collective::{Collective, DeviceBuffer, ReduceOp, Single};
use exo_nccl::cudarc::driver::DevicePtr;
use exo_nccl::testing::{all_or_skip, has_gpus, on_threads, skip};
use exo_nccl::{NcclCollective, device_count};

/// On any host, an impossible device is an error naming CUDA, never a panic; on a host without a
/// driver (this machine's CI) the error names the missing driver.
#[test]
fn an_impossible_device_is_an_error_not_a_panic() {
    let e = NcclCollective::new(&Single, 1_000_000).expect_err("device 1000000 does not exist");
    let message = e.to_string();
    eprintln!("NcclCollective::new(&Single, 1000000): {message}");
    assert!(message.starts_with("collective init: "), "{message}");
    assert!(message.contains("CUDA"), "{message}");
    match device_count() {
        Ok(n) => eprintln!("the driver sees {n} CUDA device(s)"),
        Err(e) => {
            let message = e.to_string();
            eprintln!("device_count(): {message}");
            assert!(message.contains("CUDA"), "{message}");
        }
    }
}

/// A failure on every rank of a multi-rank bootstrap is an error on every rank (agreed through
/// the bootstrap), not a hang in NCCL's rendezvous.
#[test]
fn a_failed_rendezvous_errs_on_every_rank() {
    let outcomes = on_threads(2, |w| {
        NcclCollective::new(&w, 1_000_000 + w.rank()).map(drop)
    });
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        let message = outcome.expect_err("no rank has device 1000000").to_string();
        eprintln!("rank {rank}: {message}");
        assert!(message.contains("CUDA"), "{message}");
    }
}

/// World size 1 on GPU 0 (bootstrap `Single`): every operation is the identity, through NCCL.
#[test]
fn world_of_one_on_gpu_0() {
    const TEST: &str = "world_of_one_on_gpu_0";
    let world = match NcclCollective::new(&Single, 0) {
        Ok(world) => world,
        Err(e) => return skip(TEST, &e.to_string()),
    };
    assert_eq!(
        (world.name(), world.rank(), world.world_size()),
        ("nccl", 0, 1)
    );
    assert_eq!(world.device_ordinal(), 0);

    for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
        let mut f = [1.5_f32, -2.0, 3.25];
        world.all_reduce_f32(&mut f, op).unwrap();
        assert_eq!(f, [1.5, -2.0, 3.25], "{op:?}");
        let mut d = [0.1_f64, 1e300, -7.0];
        world.all_reduce_f64(&mut d, op).unwrap();
        assert_eq!(d, [0.1, 1e300, -7.0], "{op:?}");
    }
    let mut empty: [f32; 0] = [];
    world.all_reduce_f32(&mut empty, ReduceOp::Sum).unwrap();

    let mut bytes = b"hello".to_vec();
    world.broadcast(&mut bytes, 0).unwrap();
    assert_eq!(bytes, b"hello");
    let mut none = Vec::new();
    world.broadcast(&mut none, 0).unwrap();
    assert!(none.is_empty());
    assert!(world.broadcast(&mut bytes, 1).is_err());

    assert_eq!(world.all_gather(b"abc").unwrap(), [b"abc".to_vec()]);
    assert_eq!(world.all_gather(b"").unwrap(), [Vec::<u8>::new()]);
    world.barrier().unwrap();

    // Device buffers.
    let stream = world.stream();
    let mut dev = stream.clone_htod(&[1.0_f32, 2.0, 3.0]).unwrap();
    for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
        world.all_reduce_in_place(&mut dev, op).unwrap();
    }
    world.broadcast_in_place(&mut dev, 0).unwrap();
    assert_eq!(stream.clone_dtoh(&dev).unwrap(), [1.0, 2.0, 3.0]);
    assert!(world.broadcast_in_place(&mut dev, 1).is_err());
    let mut dev64 = stream.clone_htod(&[4.0_f64]).unwrap();
    world
        .all_reduce_in_place(&mut dev64, ReduceOp::Sum)
        .unwrap();
    assert_eq!(stream.clone_dtoh(&dev64).unwrap(), [4.0]);
    eprintln!("{TEST}: ran on GPU 0: {world:?}");
}

/// World size 1 on GPU 0, through exo-core's backend-neutral [`DeviceCollective`]: a
/// [`DeviceBuffer`] over memory that cudarc allocated is reduced in place and unchanged; a buffer
/// of another device is refused before NCCL sees it.
#[test]
fn device_collective_world_of_one_on_gpu_0() {
    const TEST: &str = "device_collective_world_of_one_on_gpu_0";
    let world = match NcclCollective::new(&Single, 0) {
        Ok(world) => world,
        Err(e) => return skip(TEST, &e.to_string()),
    };
    let dc = world
        .device_collective()
        .expect("NCCL offers a device transport");
    assert_eq!(dc.device_ordinal(), 0);
    let stream = world.stream();
    let f = stream.clone_htod(&[1.5_f32, -2.0, 3.25]).unwrap();
    let d = stream.clone_htod(&[0.1_f64, 1e300]).unwrap();
    stream.synchronize().unwrap();
    {
        let (fp, _f_read) = f.device_ptr(&stream);
        let (dp, _d_read) = d.device_ptr(&stream);
        for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
            #[allow(unsafe_code)]
            // SAFETY: `f` holds 3 f32 and `d` 2 f64 on device 0, allocated by cudarc in the
            // device's primary context; both outlive the buffers (they are dropped at the end of
            // the test) and the stream that wrote them was synchronised above; nothing else
            // touches them while the buffers live.
            let (mut fb, mut db) = unsafe {
                (
                    DeviceBuffer::new(fp, 3, DType::F32, 0).unwrap(),
                    DeviceBuffer::new(dp, 2, DType::F64, 0).unwrap(),
                )
            };
            dc.all_reduce_device(&mut fb, op).unwrap();
            dc.all_reduce_device(&mut db, op).unwrap();
        }
    }
    assert_eq!(stream.clone_dtoh(&f).unwrap(), [1.5, -2.0, 3.25]);
    assert_eq!(stream.clone_dtoh(&d).unwrap(), [0.1, 1e300]);
    #[allow(unsafe_code)]
    // SAFETY: an empty buffer addresses no memory.
    let mut elsewhere = unsafe { DeviceBuffer::new(0, 0, DType::F32, 1) }.unwrap();
    let message = dc
        .all_reduce_device(&mut elsewhere, ReduceOp::Sum)
        .unwrap_err()
        .to_string();
    assert!(message.contains("device 1"), "{message}");
    eprintln!("{TEST}: ran on GPU 0");
}

/// What one rank of the two-GPU test saw.
#[derive(Debug, PartialEq)]
struct Seen {
    sum: Vec<f32>,
    mean: Vec<f32>,
    max: Vec<f64>,
    mean64: Vec<f64>,
    broadcast: Vec<u8>,
    gathered: Vec<Vec<u8>>,
    device_sum: Vec<f32>,
    device_mean: Vec<f64>,
    device_broadcast: Vec<f32>,
}

#[allow(clippy::unwrap_used)] // test helper: a failure is a test failure
fn two_ranks(world: &NcclCollective) -> Seen {
    let r = world.rank();
    let x = r as f32 + 1.0; // 1 on rank 0, 2 on rank 1
    let mut sum = vec![x, 10.0 * x, -x];
    world.all_reduce_f32(&mut sum, ReduceOp::Sum).unwrap();
    let mut mean = vec![x, 0.1 * x];
    world.all_reduce_f32(&mut mean, ReduceOp::Mean).unwrap();
    let mut max = vec![f64::from(x), -f64::from(x)];
    world.all_reduce_f64(&mut max, ReduceOp::Max).unwrap();
    let mut mean64 = vec![f64::from(x) / 3.0];
    world.all_reduce_f64(&mut mean64, ReduceOp::Mean).unwrap();

    // Rank 1's bytes (longer than rank 0's buffer) replace rank 0's.
    let mut broadcast = if r == 1 {
        b"from rank one".to_vec()
    } else {
        b"x".to_vec()
    };
    world.broadcast(&mut broadcast, 1).unwrap();
    // Lengths differ by rank, one of them empty.
    let mine: &[u8] = if r == 0 { b"" } else { b"rank one's bytes" };
    let gathered = world.all_gather(mine).unwrap();
    world.barrier().unwrap();

    let stream = world.stream();
    let mut dev = stream.clone_htod(&[x, 2.0 * x]).unwrap();
    world.all_reduce_in_place(&mut dev, ReduceOp::Sum).unwrap();
    let device_sum = stream.clone_dtoh(&dev).unwrap();
    let mut dev64 = stream.clone_htod(&[f64::from(x)]).unwrap();
    world
        .all_reduce_in_place(&mut dev64, ReduceOp::Mean)
        .unwrap();
    let device_mean = stream.clone_dtoh(&dev64).unwrap();
    let mut devb = stream.clone_htod(&[x; 4]).unwrap();
    world.broadcast_in_place(&mut devb, 0).unwrap();
    let device_broadcast = stream.clone_dtoh(&devb).unwrap();
    Seen {
        sum,
        mean,
        max,
        mean64,
        broadcast,
        gathered,
        device_sum,
        device_mean,
        device_broadcast,
    }
}

/// World size 2 on GPUs 0 and 1, one thread each, rendezvous through a `ThreadWorld` (`exo_nccl::testing::on_threads`).
#[test]
fn two_gpus_two_threads() {
    const TEST: &str = "two_gpus_two_threads";
    if !has_gpus(TEST, 2) {
        return;
    }
    let outcomes = on_threads(2, |w| {
        let world = NcclCollective::new(&w, w.rank())?;
        Ok::<_, exo_core::Error>(two_ranks(&world))
    });
    let Some(seen) = all_or_skip(TEST, outcomes) else {
        return;
    };
    let expected = Seen {
        sum: vec![3.0, 30.0, -3.0],
        mean: vec![1.5, (0.1_f32 + 0.2_f32) / 2.0],
        max: vec![2.0, -1.0],
        mean64: vec![(1.0_f64 / 3.0 + 2.0 / 3.0) / 2.0],
        broadcast: b"from rank one".to_vec(),
        gathered: vec![Vec::new(), b"rank one's bytes".to_vec()],
        device_sum: vec![3.0, 6.0],
        device_mean: vec![1.5],
        device_broadcast: vec![1.0; 4],
    };
    assert_eq!(seen[0], expected);
    assert_eq!(seen[1], expected);
    eprintln!("{TEST}: ran on GPUs 0 and 1");
}

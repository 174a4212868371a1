//! Every operation against its definition, in a world of one (no launcher) and of three
//! (`three_processes_under_mpirun_agree` starts this binary under `mpirun -np 3`).

// Test code: a failed call is a failed test.
#![allow(clippy::expect_used)]

use exo_core::collective::{Collective, ReduceOp};

#[test]
fn every_operation_matches_its_definition() -> Result<(), exo_core::Error> {
    let (_runtime, world) = exo_mpi::init()?;
    let (rank, size) = (world.rank(), world.world_size());
    assert!(rank < size);
    assert_eq!(
        exo_mpi::launched_world_size().unwrap_or(1),
        size,
        "the launcher's size"
    );

    let mut f = vec![rank as f32 + 1.0, 2.0];
    world.all_reduce_f32(&mut f, ReduceOp::Sum)?;
    let total: f32 = (1..=size).map(|r| r as f32).sum();
    assert_eq!(f, vec![total, 2.0 * size as f32]);

    let mut d = vec![rank as f64];
    world.all_reduce_f64(&mut d, ReduceOp::Mean)?;
    assert_eq!(
        d,
        vec![(0..size).map(|r| r as f64).sum::<f64>() / size as f64]
    );
    let mut m = vec![rank as f64, -(rank as f64)];
    world.all_reduce_f64(&mut m, ReduceOp::Max)?;
    assert_eq!(m, vec![(size - 1) as f64, 0.0]);

    let root = size - 1;
    let mut b = if rank == root {
        b"from the last rank".to_vec()
    } else {
        vec![7; 3]
    };
    world.broadcast(&mut b, root)?;
    assert_eq!(b, b"from the last rank");
    assert!(world.broadcast(&mut b, size).is_err());

    let mine = vec![rank as u8; rank + 1];
    let all = world.all_gather(&mine)?;
    assert_eq!(all.len(), size);
    for (r, got) in all.iter().enumerate() {
        assert_eq!(got, &vec![r as u8; r + 1]);
    }
    // Empty buffers (Open MPI refuses an empty slice's dangling pointer: exo-mpi must not pass it).
    let mut empty = Vec::new();
    world.broadcast(&mut empty, 0)?;
    assert!(empty.is_empty());
    let none = world.all_gather(&[])?;
    assert_eq!(none, vec![Vec::<u8>::new(); size]);
    let some = world.all_gather(if rank == 0 { &[] } else { &[1, 2] })?;
    assert_eq!(some[0], Vec::<u8>::new());
    world.all_reduce_f32(&mut [], ReduceOp::Sum)?;
    world.barrier()?;
    Ok(())
}

/// Runs the test above in 3 processes under `mpirun` (Open MPI, as scripts/test.sh installs it);
/// when this process is itself one of them, there is nothing more to do.
#[test]
fn three_processes_under_mpirun_agree() {
    if exo_mpi::launched_world_size().is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new("mpirun")
        .args(["--oversubscribe", "-np", "3"])
        .arg(exe)
        .args(["--exact", "every_operation_matches_its_definition"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .expect("mpirun runs (scripts/test.sh installs Open MPI)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("1 passed").count(), 3, "{text}");
}

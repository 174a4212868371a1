//! [`Collective`] for [`NcclCollective`] over host buffers, staged through device memory.

use cudarc::nccl::Comm;
use exo_core::Result;
use exo_core::collective::{Collective, DeviceCollective, ReduceOp, check_root};

use crate::{DeviceFloat, NcclCollective, driver, err, nccl, nccl_op};

impl NcclCollective {
    /// Host all-reduce: stages `buf` on the device, reduces with NCCL, copies back.
    fn all_reduce_host<T>(&self, buf: &mut [T], op: ReduceOp) -> Result<()>
    where
        T: DeviceFloat,
    {
        if buf.is_empty() {
            return Ok(());
        }
        let data = buf.to_vec();
        let out = self.run("all_reduce", move |w| {
            let comm = w.comm("all_reduce")?;
            let stream = comm.stream();
            let mut dev = stream.clone_htod(&data).map_err(driver("all_reduce"))?;
            comm.all_reduce_in_place(&mut dev, &nccl_op(op, false))
                .map_err(nccl("all_reduce"))?;
            let out = stream.clone_dtoh(&dev).map_err(driver("all_reduce"))?;
            stream.synchronize().map_err(driver("all_reduce"))?;
            Ok(out)
        })?;
        if out.len() != buf.len() {
            return Err(err(
                "all_reduce",
                format!("{} elements came back for {}", out.len(), buf.len()),
            ));
        }
        buf.copy_from_slice(&out);
        Ok(())
    }
}

/// The lengths of every rank's bytes, all-gathered as `u64`.
fn gather_lengths(comm: &Comm, mine: usize) -> Result<Vec<usize>> {
    let stream = comm.stream();
    let world = comm.world_size();
    let send = stream
        .clone_htod(&[mine as u64])
        .map_err(driver("all_gather"))?;
    let mut recv = stream
        .alloc_zeros::<u64>(world)
        .map_err(driver("all_gather"))?;
    comm.all_gather(&send, &mut recv)
        .map_err(nccl("all_gather"))?;
    let lens = stream.clone_dtoh(&recv).map_err(driver("all_gather"))?;
    stream.synchronize().map_err(driver("all_gather"))?;
    lens.into_iter()
        .map(|n| usize::try_from(n).map_err(|_| err("all_gather", "length exceeds usize")))
        .collect()
}

impl Collective for NcclCollective {
    fn name(&self) -> &'static str {
        "nccl"
    }

    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.world_size
    }

    fn local_rank(&self) -> usize {
        self.local_rank
    }

    fn all_reduce_f32(&self, buf: &mut [f32], op: ReduceOp) -> Result<()> {
        self.all_reduce_host(buf, op)?;
        if op == ReduceOp::Mean {
            let n = self.world_size as f32;
            buf.iter_mut().for_each(|x| *x /= n);
        }
        Ok(())
    }

    fn all_reduce_f64(&self, buf: &mut [f64], op: ReduceOp) -> Result<()> {
        self.all_reduce_host(buf, op)?;
        if op == ReduceOp::Mean {
            let n = self.world_size as f64;
            buf.iter_mut().for_each(|x| *x /= n);
        }
        Ok(())
    }

    fn broadcast(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        check_root(self, "broadcast", root)?;
        let root_i32 = i32::try_from(root).map_err(|_| err("broadcast", "root exceeds i32"))?;
        let mine = if self.rank == root {
            Some(buf.clone())
        } else {
            None
        };
        let out = self.run("broadcast", move |w| {
            let comm = w.comm("broadcast")?;
            let stream = comm.stream();
            // The length first, then the bytes.
            let len = mine.as_ref().map_or(0, Vec::len) as u64;
            let mut dev_len = stream.clone_htod(&[len]).map_err(driver("broadcast"))?;
            comm.broadcast_in_place(&mut dev_len, root_i32)
                .map_err(nccl("broadcast"))?;
            let len = stream.clone_dtoh(&dev_len).map_err(driver("broadcast"))?;
            let len = len
                .first()
                .and_then(|&n| usize::try_from(n).ok())
                .ok_or_else(|| err("broadcast", "no length came back"))?;
            if len == 0 {
                return Ok(Vec::new());
            }
            let mut dev = match &mine {
                Some(bytes) => stream.clone_htod(bytes),
                None => stream.alloc_zeros::<u8>(len),
            }
            .map_err(driver("broadcast"))?;
            comm.broadcast_in_place(&mut dev, root_i32)
                .map_err(nccl("broadcast"))?;
            let out = stream.clone_dtoh(&dev).map_err(driver("broadcast"))?;
            stream.synchronize().map_err(driver("broadcast"))?;
            Ok(out)
        })?;
        *buf = out;
        Ok(())
    }

    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mine = mine.to_vec();
        self.run("all_gather", move |w| {
            let comm = w.comm("all_gather")?;
            let stream = comm.stream();
            let lens = gather_lengths(comm, mine.len())?;
            let max = lens.iter().copied().max().unwrap_or(0);
            if max == 0 {
                return Ok(vec![Vec::new(); lens.len()]);
            }
            let mut padded = mine;
            padded.resize(max, 0);
            let send = stream.clone_htod(&padded).map_err(driver("all_gather"))?;
            let mut recv = stream
                .alloc_zeros::<u8>(max * lens.len())
                .map_err(driver("all_gather"))?;
            comm.all_gather(&send, &mut recv)
                .map_err(nccl("all_gather"))?;
            let all = stream.clone_dtoh(&recv).map_err(driver("all_gather"))?;
            stream.synchronize().map_err(driver("all_gather"))?;
            Ok(all
                .chunks(max)
                .zip(&lens)
                .map(|(chunk, &n)| chunk[..n].to_vec())
                .collect())
        })
    }

    fn barrier(&self) -> Result<()> {
        self.run("barrier", |w| {
            let comm = w.comm("barrier")?;
            let stream = comm.stream();
            let mut one = stream.clone_htod(&[1.0_f32]).map_err(driver("barrier"))?;
            comm.all_reduce_in_place(&mut one, &cudarc::nccl::ReduceOp::Sum)
                .map_err(nccl("barrier"))?;
            stream.synchronize().map_err(driver("barrier"))
        })
    }

    fn device_collective(&self) -> Option<&dyn DeviceCollective> {
        Some(self)
    }
}

//! [`ThreadWorld`]: a [`Collective`] of `n` threads of one process, for tests of data-parallel
//! code without MPI (and the bootstrap through which exo-nccl's tests rendezvous).

use std::sync::{Arc, Barrier, Mutex, PoisonError};

use crate::Result;
use crate::collective::{Collective, ReduceOp, check_root};

/// One rank of a world of `n` threads: each rank is moved to its own thread, and every rank
/// makes the same calls in the same order, as with MPI. Host buffers only (no
/// [`Collective::device_collective`]); `Mean` is the sum in rank order, then one division, as
/// MPI's host path computes it.
#[derive(Debug)]
pub struct ThreadWorld {
    rank: usize,
    world: usize,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    barrier: Barrier,
    slots: Mutex<Vec<Vec<u8>>>,
}

impl ThreadWorld {
    /// The `n` ranks of a new world, in rank order.
    pub fn new(n: usize) -> Vec<Self> {
        let shared = Arc::new(Shared {
            barrier: Barrier::new(n),
            slots: Mutex::new(vec![Vec::new(); n]),
        });
        (0..n)
            .map(|rank| Self {
                rank,
                world: n,
                shared: Arc::clone(&shared),
            })
            .collect()
    }

    /// Every rank's bytes, in rank order.
    fn exchange(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        let slots = || {
            self.shared
                .slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(slot) = slots().get_mut(self.rank) {
            *slot = mine.to_vec();
        }
        self.shared.barrier.wait();
        let all = slots().clone();
        // Nobody writes the next exchange before everyone has read this one.
        self.shared.barrier.wait();
        all
    }

    fn reduce<T: Elem>(&self, buf: &mut [T], op: ReduceOp) {
        let mine: Vec<u8> = buf.iter().flat_map(|x| x.to_bytes()).collect();
        let all = self.exchange(&mine);
        for (i, x) in buf.iter_mut().enumerate() {
            let mut values = all
                .iter()
                .filter_map(|bytes| bytes.get(i * T::N..(i + 1) * T::N))
                .map(T::from_bytes);
            let first = values.next().unwrap_or(*x);
            let combined = match op {
                ReduceOp::Max => values.fold(first, T::max),
                ReduceOp::Sum | ReduceOp::Mean => values.fold(first, T::add),
            };
            *x = if op == ReduceOp::Mean {
                combined.div(self.world)
            } else {
                combined
            };
        }
    }
}

/// f32 and f64 for [`ThreadWorld`]'s all-reduce.
trait Elem: Copy {
    const N: usize;
    fn to_bytes(self) -> Vec<u8>;
    fn from_bytes(b: &[u8]) -> Self;
    fn add(self, other: Self) -> Self;
    fn max(self, other: Self) -> Self;
    fn div(self, n: usize) -> Self;
}

macro_rules! elem {
    ($t:ty) => {
        impl Elem for $t {
            const N: usize = std::mem::size_of::<$t>();
            fn to_bytes(self) -> Vec<u8> {
                self.to_le_bytes().to_vec()
            }
            fn from_bytes(b: &[u8]) -> Self {
                let mut a = [0_u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
            fn add(self, other: Self) -> Self {
                self + other
            }
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[allow(clippy::cast_precision_loss)]
            fn div(self, n: usize) -> Self {
                self / n as $t
            }
        }
    };
}
elem!(f32);
elem!(f64);

impl Collective for ThreadWorld {
    fn name(&self) -> &'static str {
        "threads"
    }

    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.world
    }

    fn all_reduce_f32(&self, buf: &mut [f32], op: ReduceOp) -> Result<()> {
        self.reduce(buf, op);
        Ok(())
    }

    fn all_reduce_f64(&self, buf: &mut [f64], op: ReduceOp) -> Result<()> {
        self.reduce(buf, op);
        Ok(())
    }

    fn broadcast(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        check_root(self, "broadcast", root)?;
        let mut all = self.exchange(buf);
        if let Some(bytes) = all.get_mut(root) {
            *buf = std::mem::take(bytes);
        }
        Ok(())
    }

    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(self.exchange(mine))
    }

    fn barrier(&self) -> Result<()> {
        self.shared.barrier.wait();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    #[test]
    fn thread_world_is_a_collective() {
        let results: Vec<_> = ThreadWorld::new(3)
            .into_iter()
            .map(|w| {
                thread::spawn(move || {
                    let mut v = [w.rank as f32 + 1.0];
                    w.all_reduce_f32(&mut v, ReduceOp::Mean).unwrap();
                    let mut m = [-(w.rank as f64)];
                    w.all_reduce_f64(&mut m, ReduceOp::Max).unwrap();
                    let mut b = if w.rank == 2 {
                        b"two".to_vec()
                    } else {
                        Vec::new()
                    };
                    w.broadcast(&mut b, 2).unwrap();
                    assert!(w.broadcast(&mut b, 3).is_err());
                    w.barrier().unwrap();
                    (v, m, b, w.all_gather(&[w.rank as u8]).unwrap())
                })
            })
            .collect::<Vec<_>>() // every rank runs before any is joined
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        for (v, m, b, all) in results {
            assert_eq!(v, [2.0]);
            assert_eq!(m, [0.0]);
            assert_eq!(b, b"two");
            assert_eq!(all, [[0], [1], [2]]);
        }
    }
}

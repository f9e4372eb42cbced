//! The thin seam between shards and their executor (DESIGN decision 2): spawn a pinned shard,
//! sleep, yield. Today every shard is a glommio `LocalExecutor` on its own thread, pinned to its
//! CPU; nothing else in the engine names glommio.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};

use crate::error::{FerrisError, Result};

/// Memory glommio registers for io_uring buffers per shard. Shards do no file I/O through
/// glommio, and the locked-memory limit (`ulimit -l`, 8 MiB on our machines) is shared by all
/// of them, so keep it small.
const IO_MEMORY: usize = 256 << 10;

/// A running shard; [`ShardHandle::join`] waits for its result.
pub struct ShardHandle<T: Send + 'static> {
    id: usize,
    inner: glommio::ExecutorJoinHandle<T>,
    done: Arc<AtomicBool>,
}

impl<T: Send + 'static> std::fmt::Debug for ShardHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShardHandle({})", self.id)
    }
}

impl<T: Send + 'static> ShardHandle<T> {
    /// True once the shard's future has finished.
    pub fn is_finished(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Waits for the shard's future to finish.
    pub fn join(self) -> Result<T> {
        self.inner
            .join()
            .map_err(|e| FerrisError::Internal(format!("shard {} executor failed: {e}", self.id)))
    }
}

/// Starts shard `id` on its own executor thread, pinned to `cpu` if given, running the future
/// made by `make`.
pub fn spawn_shard<F, Fut, T>(id: usize, cpu: Option<usize>, make: F) -> Result<ShardHandle<T>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let placement = match cpu {
        Some(c) => Placement::Fixed(c),
        None => Placement::Unbound,
    };
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    let inner = LocalExecutorBuilder::new(placement)
        .name(&format!("ferris-shard-{id}"))
        .io_memory(IO_MEMORY)
        .ring_depth(64)
        .spawn(move || async move {
            let out = make().await;
            flag.store(true, Ordering::Release);
            out
        })
        .map_err(|e| {
            FerrisError::Config(format!(
                "cannot start shard {id}{}: {e}",
                cpu.map(|c| format!(" on CPU {c}")).unwrap_or_default()
            ))
        })?;
    Ok(ShardHandle { id, inner, done })
}

/// Runs `f` as another task of the current shard; await the result to join it.
pub fn spawn_local<F>(f: F) -> impl Future<Output = F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    glommio::spawn_local(f)
}

/// Sleeps the current shard task without blocking the shard's other tasks.
pub async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await;
}

/// Milliseconds since the epoch: the processing-time clock of watermark idleness and state TTLs.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Lets the shard's other tasks run if this one has had its share.
pub async fn yield_now() {
    glommio::yield_if_needed().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_run_pinned_and_return_results() {
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let cpu = Some(i % core_count());
                spawn_shard(i, cpu, move || async move {
                    sleep(Duration::from_millis(1)).await;
                    yield_now().await;
                    i * 10
                })
                .unwrap()
            })
            .collect();
        let results: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results, vec![0, 10]);
    }

    fn core_count() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

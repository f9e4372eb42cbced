//! Waking an idle shard when its consumer has records, instead of polling on a timer.
//!
//! librdkafka calls the consumer queue's non-empty callback (on one of its own threads) when a
//! record lands in a queue the shard has drained. [`WakeSignal::notify`] notes that and wakes
//! the shard's task through its waker (glommio accepts wakes from other threads); the shard,
//! when it has nothing in flight, waits on [`WakeSignal::wait_for`] instead of waking every few
//! milliseconds to find nothing. A notification that comes while the shard is busy is kept, so
//! none is lost between the last empty poll and the wait.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures_util::future::{Either, select};
use futures_util::task::AtomicWaker;

use super::runtime;

/// A one-bit "there is work" signal from another thread to a shard task.
#[derive(Debug, Default)]
pub struct WakeSignal {
    pending: AtomicBool,
    waker: AtomicWaker,
}

impl WakeSignal {
    /// Notes that there is work and wakes the waiting task, if any (any thread).
    pub fn notify(&self) {
        self.pending.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Waits until [`WakeSignal::notify`] was called (since the last wait returned), or at most
    /// `timeout`. True if it was notified.
    pub async fn wait_for(&self, timeout: Duration) -> bool {
        let notified = std::future::poll_fn(|cx| {
            self.waker.register(cx.waker());
            if self.pending.swap(false, Ordering::AcqRel) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        let timer = runtime::sleep(timeout);
        matches!(select(pin!(notified), pin!(timer)).await, Either::Left(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_notification_from_another_thread_wakes_the_shard_task_at_once() {
        let signal = Arc::new(WakeSignal::default());
        let remote = Arc::clone(&signal);
        let handle = runtime::spawn_shard(0, None, move || async move {
            let started = Instant::now();
            // Nothing pending: the wait times out.
            let early = signal.wait_for(Duration::from_millis(20)).await;
            // A notification before the wait is kept.
            signal.notify();
            let kept = signal.wait_for(Duration::from_secs(5)).await;
            // One from another thread, 50 ms into a 10 s wait, ends it.
            let waited = Instant::now();
            let notifier = std::thread::Builder::new()
                .spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    remote.notify();
                })
                .unwrap();
            let woken = signal.wait_for(Duration::from_secs(10)).await;
            notifier.join().unwrap();
            (early, kept, woken, waited.elapsed(), started.elapsed())
        })
        .unwrap();
        let (early, kept, woken, waited, total) = handle.join().unwrap();
        assert!(!early);
        assert!(kept);
        assert!(woken);
        assert!(waited < Duration::from_secs(5), "woken after {waited:?}");
        assert!(total >= Duration::from_millis(20));
    }
}

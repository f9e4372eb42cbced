//! Exchange rings between shards (DESIGN decision 1: shards share nothing and exchange rows only
//! through bounded single-producer/single-consumer rings).
//!
//! # How it works
//!
//! [`mesh`] builds one bounded ring per *ordered* pair of shards: for `n` shards there are
//! `n * (n - 1)` rings and no ring from a shard to itself. Each ring is split into a
//! [`RingSender`] half and a [`RingReceiver`] half; neither is `Clone`. The sending half of the
//! ring `a -> b` goes into shard `a`'s [`ExchangeEnd`], the receiving half into shard `b`'s, so
//! every ring has exactly one producer and one consumer *by construction*: the only way to push
//! on `a -> b` is through shard `a`'s end, the only way to pop from it is through shard `b`'s.
//! An [`ExchangeEnd`] is `Send` (it is moved into its shard) but not `Sync` (its counters are
//! plain `Cell`s), so it cannot be shared between threads either.
//!
//! A message is whatever the caller chooses; send whole batches (a `Vec` of rows), not rows:
//! one push moves a pointer-sized handle and the cost of the hop is paid once per batch.
//!
//! # Backpressure
//!
//! Rings are bounded and never grow. [`ExchangeEnd::try_send`] on a full ring gives the message
//! back (`Err(msg)`) and counts a *full-ring rejection*; the caller keeps the message and tries
//! again later (after polling its own inbound rings, so two shards sending to each other cannot
//! wedge each other). A shard must stop pulling new input while it holds rejected messages:
//! that is how a slow consumer slows its producers down, all the way back to the sources.
//!
//! Nothing blocks and nothing wakes a receiver: a shard polls its inbound rings
//! ([`ExchangeEnd::try_recv`]) in its loop, like its other sources, and sleeps on its idle
//! timer when everything is empty.
//!
//! # Shutdown
//!
//! Dropping an [`ExchangeEnd`] marks all of that shard's rings as closed on its side.
//! [`ExchangeEnd::peer_alive`] then turns false at every other shard, which can tell a quiet peer
//! from a gone one. Messages the peer pushed before it dropped its end stay on the ring and can
//! still be received: drain with [`ExchangeEnd::try_recv_from`] until `None` after seeing
//! `peer_alive == false` (the flag is released after the last push and acquired before the
//! check, so the drain sees every message).
//!
//! # Why `crossbeam_queue::ArrayQueue`
//!
//! It is bounded with a fixed, preallocated slot array (no allocation per message, the bound is
//! the backpressure), lock-free (no `Mutex`; a shard is never descheduled holding a lock), keeps
//! its head and tail on separate cache lines (producer and consumer do not false-share), and
//! publishes a message with release/acquire ordering so the batch contents are visible to the
//! receiver. It is a multi-producer/multi-consumer queue used here with one of each, which costs
//! one uncontended compare-and-swap per push and per pop; a hand-written SPSC ring would save
//! that but needs `unsafe`, which the workspace denies.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::ArrayQueue;

/// The state one ring's two halves share.
struct Ring<T> {
    queue: ArrayQueue<T>,
    /// False once the sending half is dropped.
    sender_alive: AtomicBool,
    /// False once the receiving half is dropped.
    receiver_alive: AtomicBool,
}

/// The producing half of one ring. Not `Clone`: exactly one [`ExchangeEnd`] owns it.
pub struct RingSender<T> {
    ring: Arc<Ring<T>>,
    sent: Cell<u64>,
    full: Cell<u64>,
}

/// The consuming half of one ring. Not `Clone`: exactly one [`ExchangeEnd`] owns it.
pub struct RingReceiver<T> {
    ring: Arc<Ring<T>>,
    received: Cell<u64>,
}

/// Makes one ring holding at most `capacity` messages and splits it into its two halves.
fn ring<T>(capacity: usize) -> (RingSender<T>, RingReceiver<T>) {
    let ring = Arc::new(Ring {
        queue: ArrayQueue::new(capacity),
        sender_alive: AtomicBool::new(true),
        receiver_alive: AtomicBool::new(true),
    });
    (
        RingSender {
            ring: Arc::clone(&ring),
            sent: Cell::new(0),
            full: Cell::new(0),
        },
        RingReceiver {
            ring,
            received: Cell::new(0),
        },
    )
}

impl<T> RingSender<T> {
    /// Pushes `msg`, or gives it back when the ring is full.
    pub fn try_send(&self, msg: T) -> Result<(), T> {
        match self.ring.queue.push(msg) {
            Ok(()) => {
                self.sent.set(self.sent.get() + 1);
                Ok(())
            }
            Err(msg) => {
                self.full.set(self.full.get() + 1);
                Err(msg)
            }
        }
    }

    /// Messages waiting on the ring.
    pub fn depth(&self) -> usize {
        self.ring.queue.len()
    }

    /// The most messages the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.queue.capacity()
    }

    /// Messages pushed so far.
    pub fn sent(&self) -> u64 {
        self.sent.get()
    }

    /// Pushes refused because the ring was full.
    pub fn full_rejections(&self) -> u64 {
        self.full.get()
    }

    /// False once the receiving half has been dropped.
    pub fn receiver_alive(&self) -> bool {
        self.ring.receiver_alive.load(Ordering::Acquire)
    }
}

impl<T> RingReceiver<T> {
    /// The next message, if any.
    pub fn try_recv(&self) -> Option<T> {
        let msg = self.ring.queue.pop()?;
        self.received.set(self.received.get() + 1);
        Some(msg)
    }

    /// Messages waiting on the ring.
    pub fn depth(&self) -> usize {
        self.ring.queue.len()
    }

    /// Messages popped so far.
    pub fn received(&self) -> u64 {
        self.received.get()
    }

    /// False once the sending half has been dropped. Messages pushed before that can still be
    /// received.
    pub fn sender_alive(&self) -> bool {
        self.ring.sender_alive.load(Ordering::Acquire)
    }
}

impl<T> Drop for RingSender<T> {
    fn drop(&mut self) {
        self.ring.sender_alive.store(false, Ordering::Release);
    }
}

impl<T> Drop for RingReceiver<T> {
    fn drop(&mut self) {
        self.ring.receiver_alive.store(false, Ordering::Release);
    }
}

impl<T> fmt::Debug for RingSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingSender")
            .field("depth", &self.depth())
            .field("capacity", &self.capacity())
            .field("sent", &self.sent())
            .field("full_rejections", &self.full_rejections())
            .finish()
    }
}

impl<T> fmt::Debug for RingReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingReceiver")
            .field("depth", &self.depth())
            .field("received", &self.received())
            .finish()
    }
}

/// One shard's end of the exchange mesh: the sending half of its ring to every peer and the
/// receiving half of every peer's ring to it. Move it into its shard; it is `Send` (when `T` is)
/// but neither `Sync` nor `Clone`, so each ring keeps exactly one producer and one consumer.
///
/// Peer indices are shard ids. The shard's own id and ids `>= shards()` have no ring: see
/// [`ExchangeEnd::try_send`] for what happens when one is used.
pub struct ExchangeEnd<T> {
    shard: usize,
    /// Indexed by destination shard; `None` at `shard`.
    to: Vec<Option<RingSender<T>>>,
    /// Indexed by source shard; `None` at `shard`.
    from: Vec<Option<RingReceiver<T>>>,
    /// Where the next [`ExchangeEnd::try_recv`] starts looking.
    cursor: usize,
}

/// Builds the rings for `shards` shards, each ring holding at most `capacity` messages.
/// Returns one end per shard (index = shard id), to be moved into that shard.
///
/// # Panics
///
/// If `capacity` is 0 and there is more than one shard (a ring must hold at least one message).
pub fn mesh<T: Send>(shards: usize, capacity: usize) -> Vec<ExchangeEnd<T>> {
    assert!(
        shards < 2 || capacity > 0,
        "exchange rings need a capacity of at least 1"
    );
    let mut ends: Vec<ExchangeEnd<T>> = (0..shards)
        .map(|shard| ExchangeEnd {
            shard,
            to: (0..shards).map(|_| None).collect(),
            from: (0..shards).map(|_| None).collect(),
            cursor: (shard + 1) % shards,
        })
        .collect();
    for a in 0..shards {
        for b in 0..shards {
            if a != b {
                let (tx, rx) = ring(capacity);
                ends[a].to[b] = Some(tx);
                ends[b].from[a] = Some(rx);
            }
        }
    }
    ends
}

impl<T: Send> ExchangeEnd<T> {
    /// This shard's id.
    pub fn shard(&self) -> usize {
        self.shard
    }

    /// How many shards the mesh has.
    pub fn shards(&self) -> usize {
        self.to.len()
    }

    /// Pushes `msg` on the ring to shard `to` (to != self). Err(msg) back when the ring is full
    /// (backpressure: the caller keeps it and tries again later).
    ///
    /// A shard has no ring to itself: `to == self.shard()` or `to >= self.shards()` is a bug of
    /// the caller's routing (rows for this shard are processed locally). It panics in debug
    /// builds and gives the message back as `Err(msg)` in release builds, where retrying will
    /// never succeed; such a call is not counted as a full-ring rejection.
    pub fn try_send(&self, to: usize, msg: T) -> Result<(), T> {
        match self.to.get(to).and_then(Option::as_ref) {
            Some(tx) => tx.try_send(msg),
            None => {
                debug_assert!(
                    false,
                    "shard {} has no exchange ring to shard {to} (mesh of {})",
                    self.shard,
                    self.shards()
                );
                Err(msg)
            }
        }
    }

    /// The next message from shard `from`, if any (`None` for this shard's own id or an id out
    /// of range).
    pub fn try_recv_from(&self, from: usize) -> Option<T> {
        self.from.get(from)?.as_ref()?.try_recv()
    }

    /// The next message from any peer, fair round robin across peers: Some((from, msg)).
    ///
    /// The search starts at the peer after the one that gave the last message, so a busy peer
    /// cannot starve the others: with every ring non-empty, successive calls take one message
    /// from each peer in turn.
    pub fn try_recv(&mut self) -> Option<(usize, T)> {
        let n = self.from.len();
        for k in 0..n {
            let from = (self.cursor + k) % n;
            if let Some(msg) = self.from[from].as_ref().and_then(RingReceiver::try_recv) {
                self.cursor = (from + 1) % n;
                return Some((from, msg));
            }
        }
        None
    }

    /// Messages waiting on the ring to `to` (ring depth, for metrics); 0 where there is no ring.
    pub fn depth_to(&self, to: usize) -> usize {
        self.sender(to).map_or(0, RingSender::depth)
    }

    /// Messages waiting on the ring from `from` to this shard; 0 where there is no ring.
    pub fn depth_from(&self, from: usize) -> usize {
        self.receiver(from).map_or(0, RingReceiver::depth)
    }

    /// Messages waiting on all rings towards this shard.
    pub fn inbound_depth(&self) -> usize {
        self.from.iter().flatten().map(RingReceiver::depth).sum()
    }

    /// False once the shard at the other end of the ring from `peer` has dropped its end
    /// (so a receiver can tell a quiet peer from a gone one). True for this shard's own id,
    /// false for an id out of range. Messages the peer sent before leaving can still be received
    /// after this turns false.
    pub fn peer_alive(&self, peer: usize) -> bool {
        if peer == self.shard {
            return true;
        }
        self.receiver(peer).is_some_and(RingReceiver::sender_alive)
    }

    /// The capacity every ring was built with (0 when the mesh has a single shard).
    pub fn capacity(&self) -> usize {
        self.to
            .iter()
            .flatten()
            .next()
            .map_or(0, RingSender::capacity)
    }

    /// Messages this shard has pushed on the ring to `to`.
    pub fn sent_to(&self, to: usize) -> u64 {
        self.sender(to).map_or(0, RingSender::sent)
    }

    /// Pushes on the ring to `to` that were refused because the ring was full.
    pub fn full_rejections_to(&self, to: usize) -> u64 {
        self.sender(to).map_or(0, RingSender::full_rejections)
    }

    /// Messages this shard has received on the ring from `from`.
    pub fn received_from(&self, from: usize) -> u64 {
        self.receiver(from).map_or(0, RingReceiver::received)
    }

    /// The sending half of the ring to `to`, if there is one.
    pub fn sender(&self, to: usize) -> Option<&RingSender<T>> {
        self.to.get(to)?.as_ref()
    }

    /// The receiving half of the ring from `from`, if there is one.
    pub fn receiver(&self, from: usize) -> Option<&RingReceiver<T>> {
        self.from.get(from)?.as_ref()
    }
}

impl<T> fmt::Debug for ExchangeEnd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeEnd")
            .field("shard", &self.shard)
            .field("shards", &self.to.len())
            .field("to", &self.to)
            .field("from", &self.from)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::runtime::{spawn_shard, yield_now};

    #[test]
    fn an_end_can_move_to_its_shard() {
        fn moves<T: Send>() {}
        moves::<ExchangeEnd<Vec<Vec<crate::value::Value>>>>();
    }

    #[test]
    fn every_ordered_pair_has_one_ring_and_none_to_self() {
        let ends = mesh::<u32>(3, 4);
        assert_eq!(ends.len(), 3);
        for (i, end) in ends.iter().enumerate() {
            assert_eq!(end.shard(), i);
            assert_eq!(end.shards(), 3);
            assert_eq!(end.capacity(), 4);
            assert!(end.sender(i).is_none() && end.receiver(i).is_none());
            assert_eq!(end.to.iter().flatten().count(), 2);
            assert_eq!(end.from.iter().flatten().count(), 2);
        }
        ends[0].try_send(2, 7).unwrap();
        assert_eq!(ends[2].try_recv_from(1), None);
        assert_eq!(ends[1].try_recv_from(0), None);
        assert_eq!(ends[2].try_recv_from(0), Some(7));
        assert_eq!(ends[2].try_recv_from(2), None);
        assert_eq!(ends[2].try_recv_from(9), None);
    }

    #[test]
    fn fifo_per_ring() {
        let ends = mesh::<u32>(2, 16);
        for i in 0..10 {
            ends[0].try_send(1, i).unwrap();
        }
        assert_eq!(ends[0].depth_to(1), 10);
        assert_eq!(ends[1].inbound_depth(), 10);
        assert_eq!(ends[1].depth_from(0), 10);
        let got: Vec<u32> = std::iter::from_fn(|| ends[1].try_recv_from(0)).collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert_eq!(ends[0].sent_to(1), 10);
        assert_eq!(ends[1].received_from(0), 10);
        assert_eq!(ends[1].inbound_depth(), 0);
    }

    #[test]
    fn full_ring_gives_the_message_back_and_accepts_after_a_pop() {
        let ends = mesh::<String>(2, 2);
        ends[0].try_send(1, "a".into()).unwrap();
        ends[0].try_send(1, "b".into()).unwrap();
        assert_eq!(ends[0].try_send(1, "c".into()), Err("c".to_string()));
        assert_eq!(ends[0].try_send(1, "c".into()), Err("c".to_string()));
        assert_eq!(ends[0].full_rejections_to(1), 2);
        assert_eq!(ends[0].depth_to(1), 2);
        // The other direction is a different ring and is not full.
        ends[1].try_send(0, "x".into()).unwrap();

        assert_eq!(ends[1].try_recv_from(0).as_deref(), Some("a"));
        ends[0].try_send(1, "c".into()).unwrap();
        assert_eq!(ends[0].sent_to(1), 3);
        let rest: Vec<String> = std::iter::from_fn(|| ends[1].try_recv_from(0)).collect();
        assert_eq!(rest, ["b", "c"]);
    }

    #[test]
    fn try_recv_is_round_robin_across_peers() {
        let mut ends = mesh::<(usize, u32)>(4, 8);
        // Shard 3 receives from 0, 1 and 2; peer 0 is far busier than the others.
        for i in 0..6 {
            ends[0].try_send(3, (0, i)).unwrap();
        }
        for i in 0..2 {
            ends[1].try_send(3, (1, i)).unwrap();
            ends[2].try_send(3, (2, i)).unwrap();
        }
        let receiver = &mut ends[3];
        let order: Vec<(usize, u32)> = std::iter::from_fn(|| receiver.try_recv())
            .map(|(from, (tag, seq))| {
                assert_eq!(from, tag);
                (from, seq)
            })
            .collect();
        assert_eq!(
            order,
            [
                (0, 0),
                (1, 0),
                (2, 0),
                (0, 1),
                (1, 1),
                (2, 1),
                (0, 2),
                (0, 3),
                (0, 4),
                (0, 5)
            ]
        );
        // The cursor moves past the peer that gave the last message.
        ends[1].try_send(3, (1, 9)).unwrap();
        ends[0].try_send(3, (0, 9)).unwrap();
        assert_eq!(ends[3].try_recv(), Some((1, (1, 9))));
        assert_eq!(ends[3].try_recv(), Some((0, (0, 9))));
        assert_eq!(ends[3].try_recv(), None);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "no exchange ring")]
    fn sending_to_self_is_a_bug_in_debug_builds() {
        let ends = mesh::<u32>(2, 2);
        let _ = ends[1].try_send(1, 5);
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn sending_to_self_or_out_of_range_gives_the_message_back() {
        let ends = mesh::<u32>(2, 2);
        assert_eq!(ends[1].try_send(1, 5), Err(5));
        assert_eq!(ends[1].try_send(2, 6), Err(6));
        assert_eq!(ends[1].full_rejections_to(1), 0);
    }

    #[test]
    fn peer_alive_turns_false_when_the_peer_drops_its_end() {
        let mut ends = mesh::<u32>(3, 4);
        ends[1].try_send(0, 42).unwrap();
        assert!(ends[0].peer_alive(1) && ends[0].peer_alive(2) && ends[0].peer_alive(0));
        assert!(!ends[0].peer_alive(3));
        let one = ends.remove(1);
        assert!(ends[0].peer_alive(1));
        drop(one);
        let (zero, two) = (&ends[0], &ends[1]);
        assert!(!zero.peer_alive(1));
        assert!(!two.peer_alive(1));
        assert!(zero.peer_alive(2) && two.peer_alive(0));
        // What the peer sent before leaving is still delivered.
        assert_eq!(zero.try_recv_from(1), Some(42));
        assert_eq!(zero.try_recv_from(1), None);
        // Sending towards a gone peer is still accepted by the ring; the sender can see that
        // nobody will read it.
        assert!(!zero.sender(1).unwrap().receiver_alive());
        assert!(zero.sender(2).unwrap().receiver_alive());
    }

    #[test]
    fn every_message_delivered_exactly_once_in_order_across_shards() {
        const SHARDS: usize = 4;
        const PER_PEER: u64 = 10_000;
        let ends = mesh::<(usize, u64)>(SHARDS, 8);
        let handles: Vec<_> = ends
            .into_iter()
            .enumerate()
            .map(|(id, mut end)| {
                spawn_shard(id, None, move || async move {
                    let mut next_send = [0u64; SHARDS];
                    let mut expected = [0u64; SHARDS];
                    let mut received = 0u64;
                    let total_in = PER_PEER * (SHARDS as u64 - 1);
                    let mut done_sending = false;
                    while !done_sending || received < total_in {
                        let mut progress = false;
                        done_sending = true;
                        for to in (0..SHARDS).filter(|&to| to != id) {
                            while next_send[to] < PER_PEER {
                                if end.try_send(to, (id, next_send[to])).is_err() {
                                    break;
                                }
                                next_send[to] += 1;
                                progress = true;
                            }
                            done_sending &= next_send[to] == PER_PEER;
                        }
                        while let Some((from, (tag, seq))) = end.try_recv() {
                            assert_eq!(from, tag);
                            assert_eq!(seq, expected[from], "shard {id} from {from}");
                            expected[from] += 1;
                            received += 1;
                            progress = true;
                        }
                        if !progress {
                            // 4 busy shards on fewer cores: let the peers run.
                            std::thread::yield_now();
                        }
                        yield_now().await;
                    }
                    let full: u64 = (0..SHARDS).map(|to| end.full_rejections_to(to)).sum();
                    let sent: Vec<u64> = (0..SHARDS).map(|to| end.sent_to(to)).collect();
                    let got: Vec<u64> = (0..SHARDS).map(|from| end.received_from(from)).collect();
                    // Keep the end alive until every shard has finished receiving.
                    (expected, sent, got, full, end)
                })
                .unwrap()
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let mut rejections = 0;
        for (id, (expected, sent, got, full, end)) in results.iter().enumerate() {
            for peer in 0..SHARDS {
                let want = if peer == id { 0 } else { PER_PEER };
                assert_eq!(expected[peer], want, "shard {id} from {peer}");
                assert_eq!(got[peer], want);
                assert_eq!(sent[peer], want);
                assert_eq!(end.try_recv_from(peer), None);
            }
            rejections += full;
        }
        assert!(rejections > 0, "a capacity of 8 should have pushed back");
    }
}

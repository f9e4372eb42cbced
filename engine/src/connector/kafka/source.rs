//! A shard's source partitions, consumed a batch at a time (DESIGN decisions 3 and 5).
//!
//! The rdkafka crate's `BaseConsumer::poll` hands out one record per call, and each call pays
//! for an event, an `Arc` and four clock reads: about a tenth of a shard's time on a
//! pass-through job. librdkafka can hand out a batch instead: every partition the shard
//! consumes forwards its fetched records into one queue the shard owns ([`Source`]), and
//! `rd_kafka_consume_batch_queue` takes up to a batch from it in one call, in partition order.
//! The consumer's own queue keeps everything else (rebalances, statistics, errors) and is still
//! polled every turn.
//!
//! A partition's records are forwarded from before it is fetched: in static mode [`Source`]
//! forwards the slice before the shard assigns it, in group mode the consumer context forwards
//! each assigned partition in `pre_rebalance`, before librdkafka starts fetching it (librdkafka
//! drops the forwarding when it stops a partition, so a partition assigned again is forwarded
//! again). So no record of a partition is ever on both queues.
//!
//! [`Record`] is a view of one consumed record, whichever queue it came from, with the header
//! shortcut of [`Record::headers`].

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_void};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::sync::atomic::{AtomicPtr, Ordering};

use rdkafka::Timestamp;
use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders, OwnedMessage};
use rdkafka::types::{RDKafka, RDKafkaErrorCode, RDKafkaMessage, RDKafkaQueue, RDKafkaRespErr};

use super::ShardConsumerContext;
use crate::error::{FerrisError, Result};

/// The consumer of a shard's source.
pub type SourceConsumer = BaseConsumer<ShardConsumerContext>;

/// The callback that wakes an idle shard when its queue gets records (any thread).
type WakeFn = Box<dyn Fn() + Send + Sync>;

/// The queue the partitions of a group member forward their records to, as the consumer
/// context sees it: set while the shard's [`Source`] exists, null otherwise.
#[derive(Debug, Default)]
pub struct ForwardTarget(AtomicPtr<RDKafkaQueue>);

impl ForwardTarget {
    /// Forwards the records of `partitions` of `topic` to the target queue, if there is one.
    /// `client` is the consumer's native handle.
    pub(crate) fn forward(&self, client: *mut RDKafka, topic: &str, partitions: &[i32]) {
        let queue = self.0.load(Ordering::Acquire);
        if queue.is_null() {
            return;
        }
        // Fails only for a topic name with a NUL byte (Kafka allows none) or a client that is
        // not a consumer; neither can reach here. Said all the same: a partition assigned
        // again that is not forwarded again would keep its records to itself.
        if let Err(e) = forward_partitions(client, queue, topic, partitions) {
            eprintln!("ferris: source '{topic}': {e}");
        }
    }
}

/// Forwards the fetch queues of `partitions` of `topic` into `queue`.
fn forward_partitions(
    client: *mut RDKafka,
    queue: *mut RDKafkaQueue,
    topic: &str,
    partitions: &[i32],
) -> Result<()> {
    let name = CString::new(topic)
        .map_err(|_| FerrisError::Config(format!("topic name {topic:?} holds a NUL byte")))?;
    for &p in partitions {
        // SAFETY: `client` is a live consumer handle and `queue` a live queue of it (both
        // outlive this call: see `Source`). `rd_kafka_queue_get_partition` returns a new
        // reference to the partition's fetch queue (creating the partition if librdkafka does
        // not know it yet); forwarding takes a reference of its own on `queue`, so the handle
        // is released right away.
        unsafe {
            let partition_queue = rdsys::rd_kafka_queue_get_partition(client, name.as_ptr(), p);
            if partition_queue.is_null() {
                return Err(FerrisError::Kafka(format!(
                    "no fetch queue for partition {p} of '{topic}'"
                )));
            }
            rdsys::rd_kafka_queue_forward(partition_queue, queue);
            rdsys::rd_kafka_queue_destroy(partition_queue);
        }
    }
    Ok(())
}

/// A shard's consumer and the queue its partitions forward their records to.
pub struct Source {
    queue: NonNull<RDKafkaQueue>,
    // Dropped after the queue, before the callback the queue may still call (see `Drop`).
    consumer: ManuallyDrop<SourceConsumer>,
    wake: NonNull<WakeFn>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").finish_non_exhaustive()
    }
}

impl Source {
    /// Creates the queue of `consumer`'s records, calling `wake` (on a librdkafka thread)
    /// whenever a record lands in it while it is empty. Partitions assigned by a group from
    /// now on forward to it; a static slice is forwarded with [`Source::forward`].
    pub fn new(
        consumer: SourceConsumer,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Result<Source> {
        let client = consumer.client().native_ptr();
        // SAFETY: `client` is the live consumer's handle; the queue is destroyed before the
        // consumer is (`Drop`).
        let queue = NonNull::new(unsafe { rdsys::rd_kafka_queue_new(client) })
            .ok_or_else(|| FerrisError::Kafka("cannot create the shard's record queue".into()))?;
        let wake: NonNull<WakeFn> = NonNull::from(Box::leak(Box::new(Box::new(wake) as WakeFn)));
        // SAFETY: `wake` stays allocated until after the queue and the consumer are destroyed
        // (`Drop`), so librdkafka never calls the callback with a dangling opaque.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(
                queue.as_ptr(),
                Some(call_wake),
                wake.as_ptr().cast::<c_void>(),
            );
        }
        consumer
            .context()
            .forward
            .0
            .store(queue.as_ptr(), Ordering::Release);
        Ok(Source {
            queue,
            consumer: ManuallyDrop::new(consumer),
            wake,
        })
    }

    /// The consumer: for commits, assignment and its own events.
    pub fn consumer(&self) -> &SourceConsumer {
        &self.consumer
    }

    /// Forwards the records of a static slice to this queue; call before assigning it.
    pub fn forward(&self, topic: &str, partitions: &[i32]) -> Result<()> {
        forward_partitions(
            self.consumer.client().native_ptr(),
            self.queue.as_ptr(),
            topic,
            partitions,
        )
    }

    /// Takes up to `max` records that are waiting, without blocking.
    pub fn poll_batch(self: &Rc<Self>, max: usize) -> RecordBatch {
        let mut messages: Vec<NonNull<RDKafkaMessage>> = Vec::with_capacity(max);
        if max == 0 {
            return RecordBatch {
                messages,
                _source: Rc::clone(self),
            };
        }
        // SAFETY: `messages` has room for `max` pointers; librdkafka writes `n <= max` of them
        // and hands their ownership to the caller (each destroyed once, by `RecordBatch`).
        let n = unsafe {
            rdsys::rd_kafka_consume_batch_queue(
                self.queue.as_ptr(),
                0,
                messages.as_mut_ptr().cast::<*mut RDKafkaMessage>(),
                max,
            )
        };
        // SAFETY: the first `n` entries were written, all non-null. A negative `n` is an error
        // (an invalid queue) and returns nothing.
        unsafe { messages.set_len(usize::try_from(n).unwrap_or(0).min(max)) };
        RecordBatch {
            messages,
            _source: Rc::clone(self),
        }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.consumer
            .context()
            .forward
            .0
            .store(ptr::null_mut(), Ordering::Release);
        // SAFETY: no record of this queue is alive (each `RecordBatch` holds the `Source`);
        // the queue is destroyed once, before the consumer (dropped right after this), and its
        // callback is disabled first.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(self.queue.as_ptr(), None, ptr::null_mut());
            rdsys::rd_kafka_queue_destroy(self.queue.as_ptr());
        }
        // The consumer is closed and destroyed here, then the callback is freed: librdkafka's
        // threads are gone by then.
        // SAFETY: the consumer is dropped once, here, and not touched again.
        unsafe { ManuallyDrop::drop(&mut self.consumer) };
        // SAFETY: `wake` came from `Box::leak` in `new` and is freed once, here.
        drop(unsafe { Box::from_raw(self.wake.as_ptr()) });
    }
}

unsafe extern "C" fn call_wake(_client: *mut RDKafka, opaque: *mut c_void) {
    // SAFETY: `opaque` is the `WakeFn` that `Source::new` registered, alive until the queue's
    // callback is disabled and librdkafka's threads are gone (`Source::drop`).
    let wake = unsafe { &*opaque.cast::<WakeFn>() };
    wake();
}

/// Records taken from a [`Source`] in one call; destroyed together when the batch is dropped.
pub struct RecordBatch {
    messages: Vec<NonNull<RDKafkaMessage>>,
    // Keeps the queue and the consumer alive while records of theirs exist.
    _source: Rc<Source>,
}

impl std::fmt::Debug for RecordBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordBatch({} records)", self.messages.len())
    }
}

impl RecordBatch {
    /// How many records (consumer errors included).
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True when the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The records, in the order librdkafka handed them out.
    pub fn iter(&self) -> impl Iterator<Item = Record<'_>> {
        // SAFETY: each message is alive until the batch is dropped, which the borrow outlives.
        self.messages.iter().map(|m| Record {
            message: unsafe { m.as_ref() },
        })
    }
}

impl Drop for RecordBatch {
    fn drop(&mut self) {
        for m in self.messages.drain(..) {
            // SAFETY: each message was handed to this batch by `rd_kafka_consume_batch_queue`
            // and is destroyed once, here; no `Record` outlives the batch.
            unsafe { rdsys::rd_kafka_message_destroy(m.as_ptr()) };
        }
    }
}

/// One consumed record: a view of librdkafka's message, valid while its batch or its
/// `BorrowedMessage` is.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    message: &'a RDKafkaMessage,
}

impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Record(partition {}, offset {})",
            self.partition(),
            self.offset()
        )
    }
}

impl<'a> Record<'a> {
    /// The record a message of the rdkafka crate holds.
    pub fn of(message: &'a BorrowedMessage<'_>) -> Record<'a> {
        // SAFETY: the message is alive for as long as the borrow.
        Record {
            message: unsafe { &*message.ptr() },
        }
    }

    /// The consumer error this record stands for, if it is one rather than a record.
    pub fn error(&self) -> Option<KafkaError> {
        let err: RDKafkaRespErr = self.message.err;
        if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        Some(if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__PARTITION_EOF {
            KafkaError::PartitionEOF(self.message.partition)
        } else {
            KafkaError::MessageConsumption(RDKafkaErrorCode::from(err))
        })
    }

    /// The value, or `None` for a null value.
    pub fn payload(&self) -> Option<&'a [u8]> {
        // SAFETY: librdkafka's `payload`/`len` describe the value inside the message's buffer,
        // alive for `'a`.
        unsafe { opt_slice(self.message.payload, self.message.len) }
    }

    /// The value's length (0 for a null value).
    pub fn payload_len(&self) -> usize {
        if self.message.payload.is_null() {
            0
        } else {
            self.message.len
        }
    }

    /// The key, or `None` for a null key.
    pub fn key(&self) -> Option<&'a [u8]> {
        // SAFETY: as for the value.
        unsafe { opt_slice(self.message.key, self.message.key_len) }
    }

    /// The partition the record was read from.
    pub fn partition(&self) -> i32 {
        self.message.partition
    }

    /// The record's offset in its partition.
    pub fn offset(&self) -> i64 {
        self.message.offset
    }

    /// The record's topic.
    pub fn topic(&self) -> &'a str {
        // SAFETY: a consumed message's topic handle is alive as long as the message; its name
        // is a NUL-terminated string.
        let name = unsafe { CStr::from_ptr(rdsys::rd_kafka_topic_name(self.message.rkt)) };
        // Kafka topic names are ASCII.
        name.to_str().unwrap_or_default()
    }

    /// The record's timestamp.
    pub fn timestamp(&self) -> Timestamp {
        let mut kind = rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: reads the live message.
        let ts = unsafe { rdsys::rd_kafka_message_timestamp(self.message, &mut kind) };
        match kind {
            _ if ts == -1 => Timestamp::NotAvailable,
            rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_CREATE_TIME => {
                Timestamp::CreateTime(ts)
            }
            rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME => {
                Timestamp::LogAppendTime(ts)
            }
            rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE => {
                Timestamp::NotAvailable
            }
        }
    }

    /// The record's headers, or `None` if it has none.
    ///
    /// librdkafka's `rd_kafka_message_headers` allocates a parse buffer for every consumed
    /// record (with headers or without), reads the header count and frees the buffer again:
    /// about a tenth of a shard's time on a pass-through job. This answers "none" without
    /// asking when the record says so itself: in the record format of every broker since Kafka
    /// 0.11 (v2 record batches) the header count, a zigzag varint, is the byte right after the
    /// value, and it is `0x00` exactly when there are no headers (a count `n > 0` starts with a
    /// non-zero byte). Anything else goes to librdkafka, so a record with headers always gets
    /// them.
    pub fn headers(&self) -> Option<RecordHeaders<'a>> {
        if self.header_count_is_zero() {
            return None;
        }
        let mut headers = ptr::null_mut();
        // SAFETY: reads the live message; the headers it returns belong to the message.
        let err = unsafe { rdsys::rd_kafka_message_headers(self.message, &mut headers) };
        if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        NonNull::new(headers).map(|ptr| RecordHeaders {
            ptr,
            _message: PhantomData,
        })
    }

    /// Whether the byte after the record's value, its v2 header count, is zero. `false` where
    /// that byte cannot be read (no value, or an empty one: librdkafka points an empty value at
    /// a constant, not into the record).
    fn header_count_is_zero(&self) -> bool {
        let Some(value) = self.payload() else {
            return false;
        };
        if value.is_empty() {
            return false;
        }
        // SAFETY: librdkafka reads a fetch response into one contiguous buffer (a decompressed
        // record batch too) and a consumed record's value is a slice of that buffer, kept alive
        // by the message. In a v2 record the value is followed by the header count within the
        // record itself, so `value.as_ptr() + value.len()` is inside the buffer. Not covered: a
        // legacy v0/v1 message (no broker has written that format by default since Kafka 0.11)
        // or a malformed v2 record whose length ends at its value, when it is the last thing in
        // its buffer; then this reads one byte past librdkafka's buffer. Whatever that byte
        // holds, the answer is right (such a record has no headers for librdkafka either).
        // Telling those records apart needs librdkafka's private message state.
        let next = unsafe { value.as_ptr().add(value.len()).read() };
        next == 0
    }

    /// An owned copy (key, value, metadata and headers).
    pub fn detach(&self) -> OwnedMessage {
        OwnedMessage::new(
            self.payload().map(<[u8]>::to_vec),
            self.key().map(<[u8]>::to_vec),
            self.topic().to_owned(),
            self.timestamp(),
            self.partition(),
            self.offset(),
            self.headers().map(|h| h.detach()),
        )
    }
}

/// `ptr[..len]`, or `None` for a null `ptr`.
///
/// # Safety
/// A non-null `ptr` must point to `len` readable bytes that live for `'a`.
unsafe fn opt_slice<'a>(ptr: *const c_void, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: the caller's promise.
        Some(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
    }
}

/// The headers of a consumed [`Record`].
#[derive(Clone, Copy)]
pub struct RecordHeaders<'a> {
    ptr: NonNull<rdsys::rd_kafka_headers_t>,
    _message: PhantomData<&'a RDKafkaMessage>,
}

impl std::fmt::Debug for RecordHeaders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> RecordHeaders<'a> {
    /// How many headers.
    pub fn count(&self) -> usize {
        // SAFETY: the headers belong to a message alive for `'a`.
        unsafe { rdsys::rd_kafka_header_cnt(self.ptr.as_ptr()) }
    }

    /// The `i`th header: its name and its value (`None` for a null value).
    pub fn get(&self, i: usize) -> Option<(&'a [u8], Option<&'a [u8]>)> {
        let (mut name, mut value, mut size) = (ptr::null(), ptr::null(), 0);
        // SAFETY: the headers belong to a message alive for `'a`; librdkafka returns pointers
        // into them.
        let err = unsafe {
            rdsys::rd_kafka_header_get_all(self.ptr.as_ptr(), i, &mut name, &mut value, &mut size)
        };
        if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            return None;
        }
        // SAFETY: a header name is a NUL-terminated string and its value `size` bytes, both
        // inside the headers.
        unsafe { Some((CStr::from_ptr(name).to_bytes(), opt_slice(value, size))) }
    }

    /// The headers in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + use<'a> {
        let headers = *self;
        (0..self.count()).map_while(move |i| headers.get(i))
    }

    /// An owned copy, to send on. A name that is not UTF-8 (Kafka's clients only write UTF-8
    /// names) has its invalid bytes replaced.
    pub fn detach(&self) -> OwnedHeaders {
        self.iter().fold(
            OwnedHeaders::new_with_capacity(self.count()),
            |h, (name, value)| {
                h.insert(Header {
                    key: &String::from_utf8_lossy(name),
                    value,
                })
            },
        )
    }
}

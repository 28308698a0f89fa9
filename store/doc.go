// Package store keeps the stream processor's state in Pebble: per Kafka
// partition, the state of each user (the open session's events, the intents
// kept from closed sessions, what was last published), an index of open
// sessions by the event time they expire, and a checkpoint holding the next
// input offset of each topic, the partition's watermark and the position
// in the partition's changelog (a Kafka topic the processor writes before
// it commits here) up to which the store holds it. The store is a copy of
// the changelog's state, local to the instance that owns the partition:
// the processor brings it up to the changelog before it uses it, and
// rebuilds it from there when it is lost. Apart from the partitions, it keeps a copy of
// the catalogue (the items topic's records and the offset read to), so that
// a restarted instance reads only the topic's tail (catalog.go).
//
// # Exactly once
//
// A poll batch's state changes and the checkpoint with the offsets that
// produced them go into one Batch and are committed together: after a
// crash, the store holds either the state before the batch with the old
// offsets, or the state after it with the new ones, never a mix. The
// processor resumes reading from the checkpoint's offsets, not from the
// consumer group's committed offsets, so every input event is applied
// exactly once. Commit(sync) says what is durable when: with sync the batch
// survives a machine crash; without, a process crash (kill -9) only.
//
// # Layout
//
// keys.go holds the key layout; codec.go the versioned binary value
// encodings. Values read are copied out of Pebble before they are
// returned, so callers own them. The store imports nothing of Kafka.
//
// # Failures
//
// A disk or Pebble error (a failed flush or compaction, a write to the
// log or manifest that fails) fails the store for good: Options.OnError
// hears of it, DB.Failed is closed, and every later call returns
// ErrFailed, so that the processor stops consuming instead of going on
// with state it cannot keep. Nothing is written after the failure: the
// store opened again (by a new process, on a disk that works) holds every
// batch committed before it, and the processor resumes from there.
package store

// Package processor is sessionrec's stream processor: it follows every user
// through their session from the clicks and purchases topics, keeps the
// state in the store, detects intents with the model and publishes
// recommendations when the intents change.
//
// # Partitions
//
// A Processor is a member of a kafka-go consumer group over clicks and
// purchases with the range balancer, so partition p of both topics goes to
// the same member; it runs one worker per assigned partition number. Users
// are partitioned by the producers (murmur2 of the user id), so a worker
// owns its users outright. A worker reads both topics of its partition from
// the offsets in its store checkpoint (falling back to the group's
// committed offsets, then to Config.StartOffset), and merges them by record
// timestamp, which producers set to the event time, so that a purchase is not
// applied before the clicks that preceded it.
//
// # A poll batch
//
// The worker takes up to BatchSize records, applies them to the users'
// state with the sessionizer (sessionizer.go: pure functions of state, event
// and watermark), closes the sessions the watermark ends (their intents move
// to the user's history), detects the intents of every user it touched and,
// when their signature differs from the last published one, ranks and
// builds a recommendation record. Then, in this order:
//
//  1. publish the records and dead letters and wait for the acknowledgements;
//  2. commit one store batch holding the users' new state and the checkpoint
//     (the next offset of each topic and the watermark);
//  3. commit the group offsets (a fallback only).
//
// A crash before 2 leaves the store at the state and offsets before the
// batch: the batch is read and applied again (state exactly once) and its
// records published again (output at least once; a record is the full latest
// state of its key on a compacted topic). Bad input goes to the dead-letter
// topic with a reason and never stops the partition.
//
// # Time
//
// Sessions are by event time. A partition's watermark is its highest event
// time minus the grace; an event older than the watermark is late (a dead
// letter). When a partition reads nothing for IdleAdvance, its watermark
// advances with the wall clock, so sessions close when traffic stops.
//
// # Models
//
// The model is an Engine (catalogue, intent detector, knobs) behind an
// atomic pointer: SetEngine swaps it between events, and an event is
// handled by one engine from start to end. Without an engine, state is kept
// and nothing is published.
package processor

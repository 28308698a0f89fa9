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
// # The catalogue and models
//
// Before it joins the group, every instance reads two compacted topics
// whole, outside the group, and keeps following them (follow.go): the
// items topic (catalogue.go), whose copy it keeps in the store so that a
// restart reads only the tail, and the models topic (models.go), whose
// newest verified model it serves. The model is an Engine (catalogue,
// intent detector, knobs) behind an atomic pointer: SetModel builds one off
// the hot path from the catalogue and swaps it in, and an event is handled
// by one engine from start to end. An item that arrives later is encoded
// into the serving engine's catalogue at once (cold start); a tombstone
// withdraws it. A model refused (corrupt, truncated, incompatible) leaves
// the serving one in place. Without an engine, state is kept and nothing is
// published.
//
// # Training replays
//
// ReplayCorpus (replay.go) reads the topics over fixed offset ranges for
// sessionrec train and sessionizes them with the same code as the
// workers, so that a model learns from the sessions the processor sees.
//
// # The query API
//
// Handler serves /metrics, /healthz, /readyz and the query API (api.go,
// described by openapi.json): fresh recommendations from a user's stored
// state with the request's knobs, the session and its intents, and similar
// items. A user whose partition another member owns gets 421 with that
// member's advertised address, which travels in the group membership.
package processor

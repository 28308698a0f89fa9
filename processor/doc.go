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
// letter). An event more than Limits.MaxFuture (5 minutes) ahead of the
// wall clock when it is read is a dead letter too (reason timestamp), and
// never moves the watermark: a producer's clock running ahead cannot make
// everyone else's events late. When a partition reads nothing for
// IdleAdvance, and the end offsets show every input read to its end, its
// watermark advances with the wall clock, so sessions close when traffic
// stops (and not when it is only held up in a slow reader or an outage).
//
// A user's state is bounded: a session that reaches Sessionizer.MaxEvents
// is closed and the next event starts a new one, and duplicates are caught
// among the open events and a bounded window of the closed sessions' event
// IDs (DedupIDs, DedupAge).
//
// # Faults
//
// Nothing a record holds stops a partition: it is a dead letter (with its
// key replaced by a hash when too long for the broker), and a dead letter
// the broker refuses for good is sent again without its value, then, if
// refused even so, logged, counted and dropped; it is never retried
// forever. Transient broker errors (an outage, a restart, a leader moving)
// are retried with backoff by the group loop, the writers, the followers
// and the admin calls (outage.go); while they last the processor is not
// Ready, and when the brokers have answered nothing for BrokerTimeout, Run
// returns ErrBrokersUnreachable for the process to exit and be restarted.
// A store that fails (a disk error: store.ErrFailed) ends Run at once, and
// the instance resumes after a restart from the last batch committed. A
// generation's end while a worker starts or works is never an error, each
// generation has its own error channel, and a reader that stalls is
// replaced without dropping what it delivered.
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
// withdraws it. A model refused (corrupt, truncated, incompatible, over
// Config.MaxModelBytes) leaves the serving one in place. Without an engine,
// state is kept and nothing is published.
//
// The models topic is read with about one model in memory: at start a
// first pass keeps only the manifests, a second the chunks of the newest
// model alone (of the next newest when it is refused); live, the chunks
// that wait for their manifest are at most MaxModelBytes in all.
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
// OpsHandler and APIHandler serve the two halves, to listen apart.
//
// The query API protects the stream, whose workers rank on the same cores
// (apilimits.go, APIConfig): a bounded number of requests in flight (429
// beyond), of which half the CPUs' worth are worked on at once, each
// worker working half its time (WorkerShare), a deadline per request at which a ranking stops between steps
// (503), and a cap on the ranking work one request may ask for (400). A
// ranking holds the catalogue's lock only to take a view of it, so item
// updates never wait for one (model.Catalog).
package processor

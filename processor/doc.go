// Package processor is sessionrec's stream processor: it follows every user
// through their session from the clicks and purchases topics, keeps the
// state in the store, detects intents with the model and publishes
// recommendations when the intents change.
//
// # Partitions
//
// A Processor is a member of a kafka-go consumer group over clicks and
// purchases; its balancer (balancer.go) gives partition p of both topics to
// the same member, and it runs one worker per assigned partition number.
// Users are partitioned by the producers (murmur2 of the user id), so a
// worker owns its users outright. A worker reads both topics of its
// partition from the offsets of the state it restored (falling back to the
// group's committed offsets, then to Config.StartOffset), and merges them by
// record timestamp, which producers set to the event time, so that a
// purchase is not applied before the clicks that preceded it.
//
// # State that follows its partition
//
// Each consumer group has a changelog topic, "<group>-state"
// (changelog.go), compacted and partitioned like the inputs: partition p
// holds the state of input partition p, written by its owner in one Kafka
// transaction per batch, under a transactional ID of the partition's own.
// A worker that takes a partition first claims it: it initializes that
// producer, which fences the previous owner (the brokers refuse its
// writes from then on) and aborts whatever transaction it left open, and
// commits a claim record. Then it restores (restore.go): it reads the
// changelog with read_committed isolation, from its store's position
// when the store holds one within the changelog, else from the start
// after dropping the partition from the store, up to its claim. Only then
// does it read input, and the instance is Ready only when every partition
// it owns is restored. A stale owner (paused past its session, or of an
// old generation) finds out at its next changelog write, before it
// publishes: it stops the partition, and the generation ends.
//
// The balancer is sticky: a partition stays with its last owner while that
// is a member, else goes to a member whose store holds it (memberData.Held),
// so a rolling restart moves nothing for good. With Config.Standby, an
// instance also follows the changelog of other members' partitions into its
// store (standby.go), so taking one over after a crash restores only the
// tail.
//
// # Pieces
//
// Processor is the group loop (processor.go): it joins the group, runs a
// partition worker per assigned partition, and rejoins at every
// generation. A worker (worker.go) reads one partition's clicks and
// purchases, merges them (merge.go, shared with the training replay),
// applies them (partition.go, with Sessionizer.Place, also shared),
// publishes (publish.go) and commits. The partition table (table.go,
// restore.go, standby.go, changelog.go) holds the partitions' state: the
// store and the changelog, claims and restores, standby replicas. The
// views (views.go, follow.go, catalogue.go, models.go, ab.go) follow the
// items and models topics and build the engines (engine.go). The query API
// (api.go, http.go, apilimits.go) answers from the store.
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
//  1. begin a changelog transaction and write the users' new states and the
//     checkpoint (the next offset of each topic and the watermark) to it;
//  2. once they are acknowledged, publish the records and dead letters and
//     wait for the acknowledgements;
//  3. commit the transaction;
//  4. commit one store batch holding the same states and checkpoint, and the
//     changelog position after them;
//  5. commit the group offsets (a fallback only, which never goes back).
//
// A crash before 3 aborts the transaction: the next owner (this instance
// again, or another) restores the state and offsets before the batch, reads
// and applies it again (state exactly once) and publishes its records again
// (output at least once; a record is the full latest state of its key on a
// compacted topic). A crash between 3 and 4 leaves the store a batch behind
// the changelog, which the restore reads. Bad input goes to the dead-letter
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
// # Erasure
//
// The erasures topic (co-partitioned with the inputs, created at start
// when missing) carries requests to forget a user, keyed by the user. A
// worker reads it with clicks and purchases, in the same timestamp merge,
// and applies a request in its batch like an event (exactly once, its
// offset in the checkpoint): the user's state is deleted from the store
// with its expiry entry, the changelog gets a tombstone for the user (so
// no restore brings the state back) and so does the recommendations
// topic, published before any record the batch makes of the user's later
// events, which start from nothing. The query API then answers 404.
//
// # Attribution
//
// Every published record is an exposure of its items, kept in the user's
// state (attribution.go), the latest in place of the one before: its
// items, the event time of the event that caused the record, its model
// version and the user's arm. A later click or purchase of the user within
// Config.AttributionWindow (event time) after an exposure is eligible, and
// followed when the exposure holds its item. The batch that applies the
// event counts it, and the counts are added to the metrics and to GET
// /v1/attribution's sums (by version and arm, with Wilson intervals) once
// the batch commits, so a batch read again is counted once.
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
// Config.MaxModelBytes, or, with Config.ModelVerifyKey, not signed with
// it) leaves the serving one in place. Without an engine, state is kept
// and nothing is published.
//
// The models topic is read with about one model in memory: at start a
// first pass keeps only the manifests, a second the chunks of the newest
// model alone (of the next newest when it is refused); live, the chunks
// that wait for their manifest are at most MaxModelBytes in all.
//
// # A/B splits
//
// With Config.Split (ab.go), the instance serves two versions of the
// models topic and no other: at start the newest manifest of each, read
// one after the other; live, a manifest of either serves its arm. Each arm
// has its engine, and items reach both. The engine served (Engine) is arm
// A's, carrying both arms' engines, so that a batch routes every user with
// the set it started with: a user's arm is AssignArm of its id (a hash of
// the id alone, the same on every instance and across restarts), and its
// records say the arm and the version that ranked them. While an arm's
// version is missing or refused, its users are ranked by the other arm's
// engine, which counts each such ranking (sessionrec_ab_fallback_total),
// and a warning marks when the arm starts and stops falling back.
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
//
// For a live page, the API also tells what the workers do as they do it:
// GET /v1/stream (stream.go) sends server-sent events of every event
// applied and every recommendation record published, from a hub the
// workers hand each committed batch to without ever waiting (a client
// that falls behind by its buffer is dropped); GET /v1/users lists the
// users recently active, GET /v1/items/{id} describes an item, and GET
// /v1/embedding (embedding.go) is a map of the catalogue: the item
// vectors on their top two principal components, fitted once per model.
package processor

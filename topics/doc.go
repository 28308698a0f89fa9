// Package topics is what the system agrees on about Kafka: the topic names
// and how they are created, the records on them and their JSON, and the
// admin calls (through franz-go's kadm) that create and verify the topics
// and read their offsets. It also holds the small clients of the tools
// around the processor, on kafka-go: [Producer] and [Replay] (sessionrec
// produce, the demo and the tests), [ReadRange] (training replays and the
// followers' catch-up) and [PublishModel]. The processor's own data path
// (its group, readers and writers) is in package processor.
//
// # Names
//
// A [Topic] is a typed name. The defaults are constants ([Clicks],
// [Purchases], [Recommendations], [DeadLetters] = "events-dlq", [Items],
// [Models]); a deployment renames them through [Names], which
// [Names.Validate] checks against Kafka's rules (legal characters, at most
// 249 bytes, no two names equal or colliding as "a.b" and "a_b" do). The
// changelog of a consumer group is derived, never spelled out:
// [Changelog](group) is "<group>-state".
//
// # Input events
//
// Clicks and purchases are JSON objects keyed by user id, decoded by
// [DecodeEvent] into one [Event] type whose [Kind] comes from the topic
// ([Names.KindOf]). Decoding is strict and never panics (it is fuzzed,
// FuzzDecodeEvent): unknown, duplicate or mistyped fields, trailing data,
// bad UTF-8, oversized records and absurd timestamps are all errors. Every
// error is a *[ValidationError] whose Reason is one of a small fixed set of
// codes ([ReasonMalformed], [ReasonMissingField], [ReasonUnknownField],
// [ReasonInvalidField], [ReasonTooLarge], [ReasonTimestamp], and
// [ReasonLate] and [ReasonUnknownItem], which the processor sets), fit for
// a metrics label and for a dead letter. Timestamps are judged against a
// clock the caller passes in: nothing here reads the system clock.
// [Event.Encode] writes the canonical form, which decodes back to the same
// event.
//
// # Output records
//
// [Recommendation] is the value on the compacted recommendations topic:
// the user's complete latest recommendations with the intents that explain
// them, the knobs and model version used, and the input record that caused
// it ([Source]), so that at-least-once output stays idempotent. A record
// that cannot be applied goes to the dead-letter topic as a [DeadLetter]:
// its original key, the original value in base64 (cut at 256 KiB so the
// dead letter itself always fits), the reason code, the error, and the
// source topic, partition and offset, also carried as record headers
// ([DeadLetter.Headers]). Their JSON field names are stable; the golden
// files in testdata show them whole.
//
// # The catalogue and models
//
// [Item] is the value of the compacted items topic, keyed by item id
// ([DecodeItem] is as strict as the event decoder; a tombstone withdraws
// the item). A model artefact travels on the compacted models topic as
// chunks no larger than [ModelChunkSize] and then a [ModelManifest] with
// its size and SHA-256 ([PublishModel]; [ModelManifest.Assemble] checks
// them), signed with an Ed25519 key when the publisher has one
// ([ModelManifest.Sign], [ModelManifest.Verify]; modelsign.go). A reader
// bounds the size of a model it accepts ([DefaultMaxModelBytes],
// [DecodeModelManifest], [CheckModelChunk]), and
// [PruneModels] tombstones all but the newest versions, so that the topic
// stays a few models long. [Producer.SendItems] and
// [Producer.WithdrawItems] write the catalogue.
//
// # Administration
//
// [Admin] wraps a kadm client. [Admin.Create] creates the topics: inputs,
// recommendations and dead letters with [TopicConfig.Partitions] (default
// 4), the output and the catalogue topics compacted; it is idempotent and
// leaves existing topics alone. [Admin.CreateChangelog] creates a group's
// compacted changelog with exactly the input partition count, since
// changelog partition i backs up the state of input partition i, and
// refuses an existing one that differs; [Admin.CheckChangelog] checks it
// the same way without creating it. [Admin.Check] is what the
// processor runs before it starts: every topic exists
// ([ErrMissingTopic]), clicks and purchases are co-partitioned, that is
// have the same partition count, so that a user's events of both kinds
// reach the same partition worker ([ErrPartitionMismatch]), and the topics
// that must be compacted are ([ErrNotCompacted]); the [Layout] it returns
// gives the partition count. [Admin.StartOffsets], [Admin.EndOffsets] and
// [Admin.OffsetsAt] (the first offset at or after a time) bound replays,
// and [Admin.Lag] reports a consumer group's lag per partition;
// [Admin.ReplayRanges] and [ReadRange] read a fixed offset range for a
// training replay; [Admin.GroupMembers] says which member owns which
// partition. Every response is checked per topic and per partition, not
// only per call.
//
// The admin tests run against kfake, franz-go's in-process broker, and
// again against a real Kafka when SESSIONREC_BROKERS is set, each test on
// topics of its own that it deletes at the end.
//
// # Security
//
// [SecurityConfig] says how to reach a secured cluster (TLS with a CA and
// a client certificate, SASL PLAIN or SCRAM), and [SecurityConfig.Build]
// makes the one [Security] that both client libraries take: kafka-go's
// dialer and transports ([Security.Dialer], [Security.Transport]) and
// franz-go's options ([Security.KgoOpts]). The package's own clients take
// it with [WithSecurity]. [Admin.Reach] checks the settings against the
// brokers once, and names what is wrong when they refuse them. Model
// manifests can be signed with Ed25519 (modelsign.go).
//
// Subpackage dataset reads the public session datasets into sessions.
package topics

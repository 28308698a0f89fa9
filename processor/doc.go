// Package processor is sessionrec's stream processor: it follows every user
// through their session from the clicks and purchases topics, keeps the
// state in the store, detects intents with the model and publishes
// recommendations when the intents change.
//
// sessionizer.go holds the session logic as pure functions of (state,
// event, watermark): sessions by event time with a gap, late events within a
// grace period placed in order (merging sessions they bridge), later ones
// refused, duplicates by event ID applied once, and sessions closed when the
// watermark passes their end.
package processor

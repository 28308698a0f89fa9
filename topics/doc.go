// Package topics holds the Kafka topic names and configs, the event types and
// their strict JSON codec, and topic administration.
//
// Subpackage dataset reads the public session datasets into sessions.
package topics

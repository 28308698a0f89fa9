package topics

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxDeadLetterValue is the most bytes of the original value a dead letter
// carries: 256 KiB. A longer value is cut (and DeadLetter.Truncated set),
// so that the dead letter, base64 and all, stays under Kafka's default
// 1 MiB record limit: an oversized input must not make the dead letter
// itself unproducible and stop the processor.
const MaxDeadLetterValue = 256 << 10

// MaxDeadLetterKey is the longest original key a dead letter carries as
// its own key: 1 KiB. A longer key (a producer bug, or an attack: a 2 MiB
// key compresses to a few bytes and passes the broker) is replaced by
// "sha256:" and its hex SHA-256, so that the dead letter fits the broker's
// limits and still groups by key; KeySize and the dlq.key_size header keep
// the original length.
const MaxDeadLetterKey = 1 << 10

// maxDeadLetterError is the most bytes of the error text a dead letter
// carries.
const maxDeadLetterError = 1 << 10

// DeadLetter is an input record that could not be applied, as written to
// the dead-letter topic. The record key is the original key (Key); the
// value is JSON:
//
//	{
//	  "reason": "invalid_field",
//	  "error": "topics: invalid quantity: 0 is not in 1 to 2147483647",
//	  "topic": "purchases",
//	  "partition": 2,
//	  "offset": 1234,
//	  "timestamp": "2026-03-01T12:00:00.25Z",
//	  "value_base64": "eyJ1c2VyX2lkIjoidTEiLCJpdGVtX2lkIjoiaTkiLCJxdWFudGl0eSI6MH0=",
//	  "value_size": 44,
//	  "truncated": false,
//	  "key_size": 2,
//	  "key_hashed": false
//	}
//
// value_base64 is the original value in standard base64 (the bytes may not
// be text), cut to [MaxDeadLetterValue] bytes before encoding; value_size
// is the original length. A key longer than [MaxDeadLetterKey] is replaced
// by its hash (key_hashed); key_size is the original key's length. The
// same facts (not the value) are also in the
// record's headers (see [DeadLetter.Headers]), so that a consumer can
// route or count dead letters without parsing the value.
type DeadLetter struct {
	// Reason is the reason code: one of the Reason constants
	// ([ReasonMalformed]...), see [ReasonOf].
	Reason string `json:"reason"`
	// Error is the error's text, for people, cut to 1 KiB.
	Error string `json:"error"`
	// Topic, Partition and Offset locate the original record.
	Topic Topic `json:"topic"`
	// Partition: see Topic.
	Partition int32 `json:"partition"`
	// Offset: see Topic.
	Offset int64 `json:"offset"`
	// Time is the original record's timestamp (written in UTC).
	Time time.Time `json:"timestamp"`
	// Key is the original key: the dead letter's record key, not part of
	// its JSON value.
	Key []byte `json:"-"`
	// Value is the original value (possibly cut, see Truncated).
	Value []byte `json:"value_base64"`
	// ValueSize is the length of the original value in bytes, which is
	// more than len(Value) when it was cut.
	ValueSize int `json:"value_size"`
	// Truncated reports that Value holds only the first
	// [MaxDeadLetterValue] bytes of the original.
	Truncated bool `json:"truncated"`
	// KeySize is the length of the original key in bytes.
	KeySize int `json:"key_size"`
	// KeyHashed reports that Key is "sha256:" and the hex SHA-256 of an
	// original key longer than [MaxDeadLetterKey].
	KeyHashed bool `json:"key_hashed"`
}

// NewDeadLetter returns the dead letter of the record at topic, partition
// and offset, with key, value and record time as read, rejected with err
// (whose reason code comes from [ReasonOf]). value is cut to
// [MaxDeadLetterValue] bytes; key and value are not copied, so the caller
// must not change them while the DeadLetter is in use.
func NewDeadLetter(topic Topic, partition int32, offset int64, key, value []byte, recordTime time.Time, err error) DeadLetter {
	d := DeadLetter{
		Reason:    ReasonOf(err),
		Topic:     topic,
		Partition: partition,
		Offset:    offset,
		Time:      recordTime,
		Key:       key,
		Value:     value,
		ValueSize: len(value),
		KeySize:   len(key),
	}
	if err != nil {
		d.Error = err.Error()
	}
	return d.cut()
}

// cut applies the size limits to Error and Value.
func (d DeadLetter) cut() DeadLetter {
	if len(d.Error) > maxDeadLetterError {
		n := maxDeadLetterError
		for n > 0 && !utf8.RuneStart(d.Error[n]) {
			n--
		}
		d.Error = d.Error[:n] + "..."
	}
	if d.ValueSize < len(d.Value) {
		d.ValueSize = len(d.Value)
	}
	if len(d.Value) > MaxDeadLetterValue {
		d.Value = d.Value[:MaxDeadLetterValue:MaxDeadLetterValue]
		d.Truncated = true
	}
	if d.KeySize < len(d.Key) {
		d.KeySize = len(d.Key)
	}
	if len(d.Key) > MaxDeadLetterKey {
		sum := sha256.Sum256(d.Key)
		d.Key = []byte("sha256:" + hex.EncodeToString(sum[:]))
		d.KeyHashed = true
	}
	return d
}

// Stripped returns the dead letter without the original value (Value
// empty, Truncated set): the last resort for a dead letter the broker
// refused as too large, which still says where the record was and why it
// was refused.
func (d DeadLetter) Stripped() DeadLetter {
	d = d.cut()
	d.Value = nil
	d.Truncated = d.ValueSize > 0
	return d
}

// Encode returns the JSON value of the dead letter's record (its key is
// d.Key), with the size limits of [NewDeadLetter] applied.
func (d DeadLetter) Encode() ([]byte, error) {
	d = d.cut()
	d.Time = d.Time.UTC()
	b, err := marshal(d)
	if err != nil {
		return nil, fmt.Errorf("topics: encode dead letter of %s/%d@%d: %w", d.Topic, d.Partition, d.Offset, err)
	}
	return b, nil
}

// DecodeDeadLetter decodes a record of the dead-letter topic strictly (see
// [DecodeRecommendation]); key becomes Key. Neither slice is retained.
func DecodeDeadLetter(key, value []byte) (DeadLetter, error) {
	var d DeadLetter
	if err := unmarshalStrict(value, &d); err != nil {
		return DeadLetter{}, fmt.Errorf("topics: decode dead letter: %w", err)
	}
	if key != nil {
		d.Key = append([]byte{}, key...)
	}
	return d, nil
}

// The header keys of a dead-letter record (see [DeadLetter.Headers]).
const (
	HeaderReason    = "dlq.reason"
	HeaderError     = "dlq.error"
	HeaderTopic     = "dlq.topic"
	HeaderPartition = "dlq.partition"
	HeaderOffset    = "dlq.offset"
	HeaderTimestamp = "dlq.timestamp"
	HeaderKeySize   = "dlq.key_size"
)

// Header is a Kafka record header. It has the fields of kafka-go's
// kafka.Header (and protocol.Header), in the same order, so a processor
// converts it with kafka.Header(h) and this package imports no Kafka
// client for it.
type Header struct {
	Key   string
	Value []byte
}

// Headers returns the headers of the dead letter's record: the reason, the
// error text (cut to 1 KiB), the source topic, partition and offset in
// decimal, the original timestamp in RFC 3339 (UTC, milliseconds), and
// the original key's length in decimal, under the Header* keys, in that
// order. The slice and its values are the
// caller's.
func (d DeadLetter) Headers() []Header {
	d = d.cut()
	return []Header{
		{HeaderReason, []byte(d.Reason)},
		{HeaderError, []byte(d.Error)},
		{HeaderTopic, []byte(d.Topic)},
		{HeaderPartition, strconv.AppendInt(nil, int64(d.Partition), 10)},
		{HeaderOffset, strconv.AppendInt(nil, d.Offset, 10)},
		{HeaderTimestamp, []byte(formatTime(d.Time))},
		{HeaderKeySize, strconv.AppendInt(nil, int64(d.KeySize), 10)},
	}
}

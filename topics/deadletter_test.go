package topics

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDeadLetterGolden(t *testing.T) {
	value := []byte(`{"user_id":"u1","item_id":"i9","quantity":0}`)
	_, decodeErr := DecodeEvent(KindPurchase, value, testRecordTime, testNow, Limits{})
	require.Error(t, decodeErr)
	d := NewDeadLetter(Purchases, 2, 1234, []byte("u1"), value,
		time.Date(2026, 3, 1, 13, 0, 0, 250e6, time.FixedZone("CET", 3600)), decodeErr)
	b, err := d.Encode()
	require.NoError(t, err)
	golden(t, "deadletter.golden.json", b)

	file, err := os.ReadFile(filepath.Join("testdata", "deadletter.golden.json"))
	require.NoError(t, err)
	got, err := DecodeDeadLetter([]byte("u1"), file)
	require.NoError(t, err)
	want := d
	want.Time = want.Time.UTC()
	require.Equal(t, want, got)
	require.Equal(t, ReasonInvalidField, got.Reason)
}

func TestNewDeadLetter(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxDeadLetterValue+10)
	tests := []struct {
		name          string
		value         []byte
		err           error
		wantReason    string
		wantLen       int
		wantTruncated bool
	}{
		{"validation error", []byte("{}"), &ValidationError{Field: "user_id", Reason: ReasonMissingField, Detail: "required"}, ReasonMissingField, 2, false},
		{"wrapped validation error", []byte("{}"), errors.Join(errors.New("context"), &ValidationError{Reason: ReasonTimestamp}), ReasonTimestamp, 2, false},
		{"reason set by the processor", []byte("{}"), &ValidationError{Field: "item_id", Reason: ReasonUnknownItem, Detail: "not in the catalogue"}, ReasonUnknownItem, 2, false},
		{"other error", nil, errors.New("boom"), ReasonMalformed, 0, false},
		{"oversized value is cut", big, &ValidationError{Reason: ReasonTooLarge}, ReasonTooLarge, MaxDeadLetterValue, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDeadLetter(Clicks, 1, 7, []byte("k"), tc.value, testRecordTime, tc.err)
			if d.Reason != tc.wantReason || len(d.Value) != tc.wantLen || d.Truncated != tc.wantTruncated || d.ValueSize != len(tc.value) {
				t.Errorf("got reason %q, %d bytes of %d, truncated %t; want %q, %d of %d, %t",
					d.Reason, len(d.Value), d.ValueSize, d.Truncated, tc.wantReason, tc.wantLen, len(tc.value), tc.wantTruncated)
			}
			if d.Error != tc.err.Error() {
				t.Errorf("got error text %q, want %q", d.Error, tc.err.Error())
			}
			b, err := d.Encode()
			require.NoError(t, err)
			if len(b) > 1<<20 {
				t.Errorf("got a %d-byte dead letter, want it under Kafka's default 1 MiB", len(b))
			}
			back, err := DecodeDeadLetter([]byte("k"), b)
			require.NoError(t, err)
			want := d
			want.Time = want.Time.UTC()
			if len(want.Value) == 0 {
				want.Value = nil
			}
			require.Equal(t, want, back)
		})
	}
}

func TestDeadLetterErrorCut(t *testing.T) {
	long := strings.Repeat("é", 1000) // 2000 bytes
	d := NewDeadLetter(Clicks, 0, 0, nil, nil, testRecordTime, errors.New(long))
	if len(d.Error) > maxDeadLetterError+3 || !strings.HasSuffix(d.Error, "...") {
		t.Errorf("got an error text of %d bytes ending %q, want at most %d ending \"...\"", len(d.Error), d.Error[len(d.Error)-5:], maxDeadLetterError+3)
	}
	require.True(t, strings.HasPrefix(long, strings.TrimSuffix(d.Error, "...")), "cut inside a rune")
}

func TestDeadLetterHeaders(t *testing.T) {
	d := NewDeadLetter(Purchases, 2, 1234, []byte("u1"), []byte("{"),
		time.Date(2026, 3, 1, 12, 0, 0, 250e6, time.UTC),
		&ValidationError{Reason: ReasonMalformed, Detail: "unexpected end of JSON input"})
	got := d.Headers()
	want := []Header{
		{"dlq.reason", []byte("malformed")},
		{"dlq.error", []byte("topics: invalid record: unexpected end of JSON input")},
		{"dlq.topic", []byte("purchases")},
		{"dlq.partition", []byte("2")},
		{"dlq.offset", []byte("1234")},
		{"dlq.timestamp", []byte("2026-03-01T12:00:00.250Z")},
		{"dlq.key_size", []byte("2")},
	}
	require.Equal(t, want, got)
}

// A key too long for the broker is replaced by its hash, and the dead
// letter says how long it was: a 2 MiB key passes the broker compressed,
// but its dead letter must not fail to be written.
func TestDeadLetterLongKey(t *testing.T) {
	key := bytes.Repeat([]byte("k"), 2<<20)
	d := NewDeadLetter(Clicks, 0, 9, key, []byte("{}"), testRecordTime, &ValidationError{Reason: ReasonInvalidField})
	sum := sha256.Sum256(key)
	if want := "sha256:" + hex.EncodeToString(sum[:]); string(d.Key) != want {
		t.Errorf("got key %.80q, want %q", d.Key, want)
	}
	if !d.KeyHashed || d.KeySize != len(key) {
		t.Errorf("got KeyHashed %v, KeySize %d; want true, %d", d.KeyHashed, d.KeySize, len(key))
	}
	hs := d.Headers()
	if got := string(hs[len(hs)-1].Value); got != strconv.Itoa(len(key)) {
		t.Errorf("got dlq.key_size %s, want %d", got, len(key))
	}
	b, err := d.Encode()
	require.NoError(t, err)
	back, err := DecodeDeadLetter(d.Key, b)
	require.NoError(t, err)
	if back.KeySize != len(key) || !back.KeyHashed {
		t.Errorf("decoded KeySize %d, KeyHashed %v; want %d, true", back.KeySize, back.KeyHashed, len(key))
	}
	short := NewDeadLetter(Clicks, 0, 9, bytes.Repeat([]byte("k"), MaxDeadLetterKey), nil, testRecordTime, nil)
	if short.KeyHashed || len(short.Key) != MaxDeadLetterKey {
		t.Errorf("a key of exactly %d bytes: got hashed %v, %d bytes; want it kept", MaxDeadLetterKey, short.KeyHashed, len(short.Key))
	}
}

func TestDeadLetterStripped(t *testing.T) {
	d := NewDeadLetter(Clicks, 3, 4, []byte("u"), bytes.Repeat([]byte("v"), 100), testRecordTime, &ValidationError{Reason: ReasonTooLarge})
	s := d.Stripped()
	if len(s.Value) != 0 || !s.Truncated || s.ValueSize != 100 || s.Reason != ReasonTooLarge || s.Offset != 4 {
		t.Errorf("got %+v, want no value, truncated, value_size 100, the reason and offset kept", s)
	}
}

func TestDecodeDeadLetterRejects(t *testing.T) {
	for _, v := range []string{"", "null", `{"reason":"malformed","extra":1}`, `{"reason":"malformed"} x`, `{"offset":"1"}`} {
		if _, err := DecodeDeadLetter(nil, []byte(v)); err == nil || !strings.HasPrefix(err.Error(), "topics: decode dead letter: ") {
			t.Errorf("DecodeDeadLetter(%q): got error %v, want one prefixed \"topics: decode dead letter: \"", v, err)
		}
	}
}

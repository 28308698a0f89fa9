package topics

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeEvent checks DecodeEvent on any input: it never panics; an
// error is a *ValidationError with a known reason; an event it returns is
// valid, in UTC to the millisecond, and Encode then DecodeEvent (with no
// record time, so ts must be carried) gives the same event back.
//
// The seed corpus is in testdata/fuzz/FuzzDecodeEvent; run with
//
//	go test -run '^$' -fuzz FuzzDecodeEvent -fuzztime 60s -fuzzminimizetime 5s ./topics/
//
// (with the default minimize time of 60s, one large interesting input can
// take the whole run to minimize, and the progress line shows 0 execs/s).
func FuzzDecodeEvent(f *testing.F) {
	f.Add(uint8(KindClick), []byte(`{"user_id":"u1","item_id":"i9","ts":"2026-03-01T11:00:00.250Z"}`), testRecordTime.UnixMilli())
	f.Add(uint8(KindPurchase), []byte(`{"user_id":"u1","item_id":"i9","ts":1772362800250,"quantity":2,"price":19.99}`), testRecordTime.UnixMilli())
	reasons := Reasons()
	fields := []string{"", fieldUserID, fieldItemID, fieldTS, fieldEventID, fieldSessionID, fieldQuantity, fieldPrice}
	f.Fuzz(func(t *testing.T, kind uint8, value []byte, recordMilli int64) {
		lim := Limits{}
		recordTime := time.UnixMilli(recordMilli)
		in := slices.Clone(value)
		e, err := DecodeEvent(Kind(kind), value, recordTime, testNow, lim)
		if !slices.Equal(in, value) {
			t.Fatalf("DecodeEvent changed its input")
		}
		if err != nil {
			ve, ok := errors.AsType[*ValidationError](err)
			if !ok {
				t.Fatalf("got error %T %v, want a *ValidationError", err, err)
			}
			if !slices.Contains(reasons, ve.Reason) {
				t.Errorf("got reason %q, want one of %v", ve.Reason, reasons)
			}
			// Unknown fields are named by what the input said.
			if ve.Reason != ReasonUnknownField && !slices.Contains(fields, ve.Field) {
				t.Errorf("got field %q, want one of %q", ve.Field, fields)
			}
			if !strings.HasPrefix(err.Error(), "topics: invalid ") {
				t.Errorf("got error %q, want the prefix \"topics: invalid \"", err)
			}
			if e != (Event{}) {
				t.Errorf("got event %+v with error %v, want the zero Event", e, err)
			}
			return
		}
		if err := e.Validate(testNow, lim); err != nil {
			t.Fatalf("decoded %+v from %q, which Validate rejects: %v", e, value, err)
		}
		if e.Kind != Kind(kind) {
			t.Errorf("got kind %v, want %v", e.Kind, Kind(kind))
		}
		if e.Time.Location() != time.UTC || !e.Time.Equal(e.Time.Truncate(time.Millisecond)) {
			t.Errorf("got time %v, want UTC to the millisecond", e.Time)
		}
		b, err := e.Encode()
		if err != nil {
			t.Fatalf("Encode(%+v) from %q: %v", e, value, err)
		}
		back, err := DecodeEvent(e.Kind, b, time.Time{}, testNow, lim)
		if err != nil {
			t.Fatalf("decode of the encoding %s of %+v (from %q): %v", b, e, value, err)
		}
		if back != e {
			t.Fatalf("round trip: got %+v, want %+v (encoding %s, input %q)", back, e, b, value)
		}
	})
}

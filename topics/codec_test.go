package topics

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testNow is the processor's clock in the codec tests, and testRecordTime
// the Kafka timestamp of the records decoded.
var (
	testNow        = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	testRecordTime = time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC)
)

func TestDecodeEvent(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return tm.UTC()
	}
	tests := []struct {
		name  string
		kind  Kind
		value string
		want  Event
	}{
		{
			name:  "click, all fields",
			kind:  KindClick,
			value: `{"user_id":"u1","item_id":"i9","ts":"2026-03-01T11:00:00.250Z","event_id":"e1","session_id":"s1"}`,
			want:  Event{Kind: KindClick, UserID: "u1", ItemID: "i9", EventID: "e1", SessionID: "s1", Time: at("2026-03-01T11:00:00.250Z")},
		},
		{
			name:  "click, ts in epoch milliseconds",
			kind:  KindClick,
			value: `{"user_id":"u1","item_id":"i9","ts":1772362800250}`,
			want:  Event{Kind: KindClick, UserID: "u1", ItemID: "i9", Time: at("2026-03-01T11:00:00.250Z")},
		},
		{
			name:  "click, ts absent: the record's time",
			kind:  KindClick,
			value: `{"user_id":"u1","item_id":"i9"}`,
			want:  Event{Kind: KindClick, UserID: "u1", ItemID: "i9", Time: testRecordTime},
		},
		{
			name:  "null optional fields are absent",
			kind:  KindPurchase,
			value: `{"user_id":"u1","item_id":"i9","ts":null,"event_id":null,"session_id":null,"quantity":null,"price":null}`,
			want:  Event{Kind: KindPurchase, UserID: "u1", ItemID: "i9", Time: testRecordTime, Quantity: 1},
		},
		{
			name:  "ts with an offset and nanoseconds: UTC, cut to the millisecond",
			kind:  KindClick,
			value: `{"user_id":"u1","item_id":"i9","ts":"2026-03-01T12:00:00.123456789+01:00"}`,
			want:  Event{Kind: KindClick, UserID: "u1", ItemID: "i9", Time: at("2026-03-01T11:00:00.123Z")},
		},
		{
			name:  "purchase, all fields",
			kind:  KindPurchase,
			value: `{"user_id":"u1","item_id":"i9","ts":"2026-03-01T11:00:00Z","quantity":3,"price":19.99,"event_id":"e2","session_id":"s1"}`,
			want:  Event{Kind: KindPurchase, UserID: "u1", ItemID: "i9", EventID: "e2", SessionID: "s1", Time: at("2026-03-01T11:00:00Z"), Quantity: 3, Price: 19.99},
		},
		{
			name:  "purchase, defaults: quantity 1, price 0 (unknown)",
			kind:  KindPurchase,
			value: `{"user_id":"u1","item_id":"i9","ts":"2026-03-01T11:00:00Z"}`,
			want:  Event{Kind: KindPurchase, UserID: "u1", ItemID: "i9", Time: at("2026-03-01T11:00:00Z"), Quantity: 1},
		},
		{
			name:  "purchase, free, negative zero price",
			kind:  KindPurchase,
			value: `{"user_id":"u1","item_id":"i9","ts":"2026-03-01T11:00:00Z","price":-0}`,
			want:  Event{Kind: KindPurchase, UserID: "u1", ItemID: "i9", Time: at("2026-03-01T11:00:00Z"), Quantity: 1},
		},
		{
			name:  "white space and unicode",
			kind:  KindClick,
			value: " \n{ \"user_id\" : \"ü<&>\\u00e9\", \"item_id\":\"\\ud83d\\ude00\" }\n ",
			want:  Event{Kind: KindClick, UserID: "ü<&>é", ItemID: "😀", Time: testRecordTime},
		},
		{
			name:  "escaped field name",
			kind:  KindClick,
			value: `{"user\u005fid":"u1","item_id":"i9"}`,
			want:  Event{Kind: KindClick, UserID: "u1", ItemID: "i9", Time: testRecordTime},
		},
		{
			name:  "ts exactly 5m ahead",
			kind:  KindClick,
			value: `{"user_id":"u1","item_id":"i9","ts":"2026-03-01T12:05:00Z"}`,
			want:  Event{Kind: KindClick, UserID: "u1", ItemID: "i9", Time: at("2026-03-01T12:05:00Z")},
		},
		{
			name:  "ts exactly 2000-01-01",
			kind:  KindClick,
			value: `{"user_id":"u1","item_id":"i9","ts":946684800000}`,
			want:  Event{Kind: KindClick, UserID: "u1", ItemID: "i9", Time: at("2000-01-01T00:00:00Z")},
		},
		{
			name:  "id of 256 bytes",
			kind:  KindClick,
			value: `{"user_id":"` + strings.Repeat("u", 256) + `","item_id":"i9"}`,
			want:  Event{Kind: KindClick, UserID: strings.Repeat("u", 256), ItemID: "i9", Time: testRecordTime},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeEvent(tc.kind, []byte(tc.value), testRecordTime, testNow, Limits{})
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.NoError(t, got.Validate(testNow, Limits{}))
		})
	}
}

func TestDecodeEventRejects(t *testing.T) {
	const ok = `"user_id":"u1","item_id":"i9"`
	tests := []struct {
		name       string
		kind       Kind
		value      string
		lim        Limits
		recordTime time.Time // zero: testRecordTime
		wantField  string
		wantReason string
	}{
		{"no kind", 0, `{` + ok + `}`, Limits{}, time.Time{}, "", ReasonInvalidField},
		{"empty", KindClick, ``, Limits{}, time.Time{}, "", ReasonMalformed},
		{"white space", KindClick, " \n", Limits{}, time.Time{}, "", ReasonMalformed},
		{"not JSON", KindClick, `user_id=u1`, Limits{}, time.Time{}, "", ReasonMalformed},
		{"array", KindClick, `[{` + ok + `}]`, Limits{}, time.Time{}, "", ReasonMalformed},
		{"string", KindClick, `"u1"`, Limits{}, time.Time{}, "", ReasonMalformed},
		{"null", KindClick, `null`, Limits{}, time.Time{}, "", ReasonMalformed},
		{"truncated", KindClick, `{"user_id":"u1","item_id":"i`, Limits{}, time.Time{}, "", ReasonMalformed},
		{"trailing garbage", KindClick, `{` + ok + `}x`, Limits{}, time.Time{}, "", ReasonMalformed},
		{"two objects", KindClick, `{` + ok + `} {` + ok + `}`, Limits{}, time.Time{}, "", ReasonMalformed},
		{"trailing comma", KindClick, `{` + ok + `,}`, Limits{}, time.Time{}, "", ReasonMalformed},
		{"duplicate field", KindClick, `{` + ok + `,"item_id":"i8"}`, Limits{}, time.Time{}, "", ReasonMalformed},
		{"invalid UTF-8", KindClick, "{\"user_id\":\"u\xff\",\"item_id\":\"i9\"}", Limits{}, time.Time{}, "", ReasonMalformed},
		{"bad escape", KindClick, `{"user_id":"u\x","item_id":"i9"}`, Limits{}, time.Time{}, "", ReasonMalformed},
		{"unknown field", KindClick, `{` + ok + `,"colour":"red"}`, Limits{}, time.Time{}, "colour", ReasonUnknownField},
		{"long unknown field", KindClick, `{` + ok + `,"` + strings.Repeat("x", 50) + `":1}`, Limits{}, time.Time{}, `"` + strings.Repeat("x", 40) + `"...`, ReasonUnknownField},
		{"unknown field with a new line", KindClick, `{` + ok + `,"a\nb":1}`, Limits{}, time.Time{}, `"a\nb"`, ReasonUnknownField},
		{"field name in another case", KindClick, `{"User_ID":"u1","item_id":"i9"}`, Limits{}, time.Time{}, "User_ID", ReasonUnknownField},
		{"quantity in a click", KindClick, `{` + ok + `,"quantity":1}`, Limits{}, time.Time{}, "quantity", ReasonUnknownField},
		{"price in a click", KindClick, `{` + ok + `,"price":1}`, Limits{}, time.Time{}, "price", ReasonUnknownField},
		{"missing user_id", KindClick, `{"item_id":"i9"}`, Limits{}, time.Time{}, "user_id", ReasonMissingField},
		{"null user_id", KindClick, `{"user_id":null,"item_id":"i9"}`, Limits{}, time.Time{}, "user_id", ReasonMissingField},
		{"missing item_id", KindPurchase, `{"user_id":"u1"}`, Limits{}, time.Time{}, "item_id", ReasonMissingField},
		{"empty user_id", KindClick, `{"user_id":"","item_id":"i9"}`, Limits{}, time.Time{}, "user_id", ReasonInvalidField},
		{"numeric user_id", KindClick, `{"user_id":42,"item_id":"i9"}`, Limits{}, time.Time{}, "user_id", ReasonInvalidField},
		{"object item_id", KindClick, `{"user_id":"u1","item_id":{"id":"i9"}}`, Limits{}, time.Time{}, "item_id", ReasonInvalidField},
		{"boolean event_id", KindClick, `{` + ok + `,"event_id":true}`, Limits{}, time.Time{}, "event_id", ReasonInvalidField},
		{"control character", KindClick, `{"user_id":"u\u0007","item_id":"i9"}`, Limits{}, time.Time{}, "user_id", ReasonInvalidField},
		{"C1 control character", KindClick, `{"user_id":"u1","item_id":"i\u0085"}`, Limits{}, time.Time{}, "item_id", ReasonInvalidField},
		{"user_id too long", KindClick, `{"user_id":"` + strings.Repeat("u", 257) + `","item_id":"i9"}`, Limits{}, time.Time{}, "user_id", ReasonInvalidField},
		{"session_id too long for the limit", KindClick, `{` + ok + `,"session_id":"s12345"}`, Limits{MaxIDLength: 5}, time.Time{}, "session_id", ReasonInvalidField},
		{"record too large", KindClick, `{` + ok + `,"event_id":"` + strings.Repeat("e", 64<<10) + `"}`, Limits{}, time.Time{}, "", ReasonTooLarge},
		{"record too large for the limit", KindClick, `{` + ok + `}`, Limits{MaxRecordBytes: 10}, time.Time{}, "", ReasonTooLarge},
		{"ts not RFC 3339", KindClick, `{` + ok + `,"ts":"01/03/2026 12:00"}`, Limits{}, time.Time{}, "ts", ReasonInvalidField},
		{"ts date only", KindClick, `{` + ok + `,"ts":"2026-03-01"}`, Limits{}, time.Time{}, "ts", ReasonInvalidField},
		{"ts fractional milliseconds", KindClick, `{` + ok + `,"ts":1772362800250.5}`, Limits{}, time.Time{}, "ts", ReasonInvalidField},
		{"ts exponent", KindClick, `{` + ok + `,"ts":1.7e12}`, Limits{}, time.Time{}, "ts", ReasonInvalidField},
		{"ts boolean", KindClick, `{` + ok + `,"ts":true}`, Limits{}, time.Time{}, "ts", ReasonInvalidField},
		{"ts negative", KindClick, `{` + ok + `,"ts":-1}`, Limits{}, time.Time{}, "ts", ReasonTimestamp},
		{"ts overflows int64", KindClick, `{` + ok + `,"ts":99999999999999999999}`, Limits{}, time.Time{}, "ts", ReasonTimestamp},
		{"ts past year 9999", KindClick, `{` + ok + `,"ts":253402300800000}`, Limits{}, time.Time{}, "ts", ReasonTimestamp},
		{"ts in seconds, not milliseconds", KindClick, `{` + ok + `,"ts":1772362800}`, Limits{}, time.Time{}, "ts", ReasonTimestamp},
		{"ts zero", KindClick, `{` + ok + `,"ts":0}`, Limits{}, time.Time{}, "ts", ReasonTimestamp},
		{"ts before 2000", KindClick, `{` + ok + `,"ts":"1999-12-31T23:59:59.999Z"}`, Limits{}, time.Time{}, "ts", ReasonTimestamp},
		{"ts over 5m ahead", KindClick, `{` + ok + `,"ts":"2026-03-01T12:05:00.001Z"}`, Limits{}, time.Time{}, "ts", ReasonTimestamp},
		{"ts ahead of a tighter limit", KindClick, `{` + ok + `,"ts":"2026-03-01T12:01:00Z"}`, Limits{MaxFuture: time.Minute - 1}, time.Time{}, "ts", ReasonTimestamp},
		{"ts before a later MinTime", KindClick, `{` + ok + `,"ts":"2025-12-31T00:00:00Z"}`, Limits{MinTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, time.Time{}, "ts", ReasonTimestamp},
		{"ts year 0", KindClick, `{` + ok + `,"ts":"0000-01-01T00:00:00Z"}`, Limits{}, time.Time{}, "ts", ReasonTimestamp},
		{"ts absent, record time absurd", KindClick, `{` + ok + `}`, Limits{}, time.Unix(0, 0), "ts", ReasonTimestamp},
		{"quantity zero", KindPurchase, `{` + ok + `,"quantity":0}`, Limits{}, time.Time{}, "quantity", ReasonInvalidField},
		{"quantity negative", KindPurchase, `{` + ok + `,"quantity":-2}`, Limits{}, time.Time{}, "quantity", ReasonInvalidField},
		{"quantity fractional", KindPurchase, `{` + ok + `,"quantity":1.5}`, Limits{}, time.Time{}, "quantity", ReasonInvalidField},
		{"quantity 1.0", KindPurchase, `{` + ok + `,"quantity":1.0}`, Limits{}, time.Time{}, "quantity", ReasonInvalidField},
		{"quantity string", KindPurchase, `{` + ok + `,"quantity":"2"}`, Limits{}, time.Time{}, "quantity", ReasonInvalidField},
		{"quantity huge", KindPurchase, `{` + ok + `,"quantity":2147483648}`, Limits{}, time.Time{}, "quantity", ReasonInvalidField},
		{"quantity overflows", KindPurchase, `{` + ok + `,"quantity":99999999999999999999}`, Limits{}, time.Time{}, "quantity", ReasonInvalidField},
		{"price negative", KindPurchase, `{` + ok + `,"price":-0.01}`, Limits{}, time.Time{}, "price", ReasonInvalidField},
		{"price out of float range", KindPurchase, `{` + ok + `,"price":1e400}`, Limits{}, time.Time{}, "price", ReasonInvalidField},
		{"price string", KindPurchase, `{` + ok + `,"price":"9.99"}`, Limits{}, time.Time{}, "price", ReasonInvalidField},
		{"first fault wins", KindClick, `{"user_id":1,"colour":"red"}`, Limits{}, time.Time{}, "user_id", ReasonInvalidField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := tc.recordTime
			if rt.IsZero() {
				rt = testRecordTime
			}
			got, err := DecodeEvent(tc.kind, []byte(tc.value), rt, testNow, tc.lim)
			if err == nil {
				t.Fatalf("got %+v, want a %s error on field %q", got, tc.wantReason, tc.wantField)
			}
			ve, ok := errors.AsType[*ValidationError](err)
			if !ok {
				t.Fatalf("got %T %v, want a *ValidationError", err, err)
			}
			if ve.Field != tc.wantField || ve.Reason != tc.wantReason {
				t.Errorf("got field %q reason %q (%v), want field %q reason %q", ve.Field, ve.Reason, err, tc.wantField, tc.wantReason)
			}
			if got != (Event{}) {
				t.Errorf("got event %+v with the error, want the zero Event", got)
			}
			if len(err.Error()) > 400 {
				t.Errorf("got an error of %d bytes, want a short one: %.100s...", len(err.Error()), err)
			}
		})
	}
}

func TestDecodeEventMissingRecordTime(t *testing.T) {
	_, err := DecodeEvent(KindClick, []byte(`{"user_id":"u1","item_id":"i9"}`), time.Time{}, testNow, Limits{})
	require.Equal(t, &ValidationError{Field: "ts", Reason: ReasonMissingField, Detail: "absent, and the record has no timestamp"}, err)
	require.EqualError(t, err, "topics: invalid ts: absent, and the record has no timestamp")
}

func TestEventEncode(t *testing.T) {
	ts := time.Date(2026, 3, 1, 12, 0, 0, 250_999_999, time.FixedZone("CET", 3600))
	tests := []struct {
		name  string
		event Event
		want  string
	}{
		{
			name:  "click",
			event: Event{Kind: KindClick, UserID: "u1", ItemID: "i9", Time: ts},
			want:  `{"user_id":"u1","item_id":"i9","ts":"2026-03-01T11:00:00.250Z"}`,
		},
		{
			name:  "click with ids, no HTML escaping",
			event: Event{Kind: KindClick, UserID: "<u&1>", ItemID: "i9", EventID: "e1", SessionID: "s1", Time: ts},
			want:  `{"user_id":"<u&1>","item_id":"i9","ts":"2026-03-01T11:00:00.250Z","event_id":"e1","session_id":"s1"}`,
		},
		{
			name:  "purchase",
			event: Event{Kind: KindPurchase, UserID: "u1", ItemID: "i9", Time: ts, Quantity: 2, Price: 19.99},
			want:  `{"user_id":"u1","item_id":"i9","ts":"2026-03-01T11:00:00.250Z","quantity":2,"price":19.99}`,
		},
		{
			name:  "purchase with unknown price",
			event: Event{Kind: KindPurchase, UserID: "u1", ItemID: "i9", Time: ts, Quantity: 1},
			want:  `{"user_id":"u1","item_id":"i9","ts":"2026-03-01T11:00:00.250Z","quantity":1,"price":0}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.event.Encode()
			require.NoError(t, err)
			require.Equal(t, tc.want, string(b))

			back, err := DecodeEvent(tc.event.Kind, b, time.Time{}, testNow, Limits{})
			require.NoError(t, err)
			want := tc.event
			want.Time = ts.UTC().Truncate(time.Millisecond)
			require.Equal(t, want, back)
		})
	}
}

func TestEventEncodeRejects(t *testing.T) {
	ts := testNow
	tests := []struct {
		name      string
		event     Event
		wantField string
	}{
		{"no kind", Event{UserID: "u1", ItemID: "i9", Time: ts}, ""},
		{"no user", Event{Kind: KindClick, ItemID: "i9", Time: ts}, "user_id"},
		{"no item", Event{Kind: KindClick, UserID: "u1", Time: ts}, "item_id"},
		{"invalid UTF-8", Event{Kind: KindClick, UserID: "u\xff", ItemID: "i9", Time: ts}, "user_id"},
		{"control character", Event{Kind: KindClick, UserID: "u1", ItemID: "i9", SessionID: "s\n", Time: ts}, "session_id"},
		{"no time", Event{Kind: KindClick, UserID: "u1", ItemID: "i9"}, "ts"},
		{"year 10000", Event{Kind: KindClick, UserID: "u1", ItemID: "i9", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "ts"},
		{"click with quantity", Event{Kind: KindClick, UserID: "u1", ItemID: "i9", Time: ts, Quantity: 1}, "quantity"},
		{"click with price", Event{Kind: KindClick, UserID: "u1", ItemID: "i9", Time: ts, Price: 1}, "price"},
		{"purchase without quantity", Event{Kind: KindPurchase, UserID: "u1", ItemID: "i9", Time: ts}, "quantity"},
		{"purchase, quantity too large", Event{Kind: KindPurchase, UserID: "u1", ItemID: "i9", Time: ts, Quantity: MaxQuantity + 1}, "quantity"},
		{"purchase, NaN price", Event{Kind: KindPurchase, UserID: "u1", ItemID: "i9", Time: ts, Quantity: 1, Price: math.NaN()}, "price"},
		{"purchase, infinite price", Event{Kind: KindPurchase, UserID: "u1", ItemID: "i9", Time: ts, Quantity: 1, Price: math.Inf(1)}, "price"},
		{"purchase, negative price", Event{Kind: KindPurchase, UserID: "u1", ItemID: "i9", Time: ts, Quantity: 1, Price: -1}, "price"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.event.Encode()
			if err == nil {
				t.Fatalf("got %s, want an error on field %q", b, tc.wantField)
			}
			ve, ok := errors.AsType[*ValidationError](err)
			if !ok || ve.Field != tc.wantField {
				t.Errorf("got %v, want a *ValidationError on field %q", err, tc.wantField)
			}
			if err := tc.event.Validate(testNow, Limits{}); err == nil {
				t.Errorf("Validate: got no error, want one")
			}
		})
	}
}

func TestEventValidateLimits(t *testing.T) {
	e := Event{Kind: KindClick, UserID: "u1", ItemID: "i9", Time: testNow}
	require.NoError(t, e.Validate(testNow, Limits{}))
	e.ItemID = strings.Repeat("i", 10)
	require.NoError(t, e.Validate(testNow, Limits{MaxIDLength: 10}))
	require.Error(t, e.Validate(testNow, Limits{MaxIDLength: 9}))
	e.Time = testNow.Add(25 * time.Hour)
	require.Error(t, e.Validate(testNow, Limits{}))
	require.NoError(t, e.Validate(testNow, Limits{MaxFuture: 26 * time.Hour}))
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindClick: "click", KindPurchase: "purchase", 0: "kind(0)", 9: "kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String(): got %q, want %q", uint8(k), got, want)
		}
	}
}

func ExampleDecodeEvent() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // the processor's clock
	recordTime := now.Add(-time.Second)                 // the Kafka record's timestamp
	value := []byte(`{"user_id":"u1","item_id":"cat-food-2","ts":1772362800250,"quantity":2,"price":4.5}`)
	e, err := DecodeEvent(KindPurchase, value, recordTime, now, Limits{})
	fmt.Println(e.UserID, e.ItemID, e.Time.Format(time.RFC3339Nano), e.Quantity, e.Price, err)

	_, err = DecodeEvent(KindPurchase, []byte(`{"user_id":"u1","item_id":"i9","quantity":0}`), recordTime, now, Limits{})
	fmt.Println(ReasonOf(err), err)
	// Output:
	// u1 cat-food-2 2026-03-01T11:00:00.25Z 2 4.5 <nil>
	// invalid_field topics: invalid quantity: 0 is not in 1 to 2147483647
}

func ExampleEvent_Encode() {
	e := Event{
		Kind:   KindClick,
		UserID: "u1",
		ItemID: "cat-food-2",
		Time:   time.Date(2026, 3, 1, 11, 0, 0, 250e6, time.UTC),
	}
	b, err := e.Encode()
	fmt.Println(string(b), err)
	// Output: {"user_id":"u1","item_id":"cat-food-2","ts":"2026-03-01T11:00:00.250Z"} <nil>
}

package topics

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeItem(t *testing.T) {
	it, err := DecodeItem([]byte("i9"), []byte(`{"item_id":"i9","name":"Crunchy cat food 2kg","category":"pets.cat.food","brand":"Purrfect","price":12.5}`), Limits{})
	require.NoError(t, err)
	require.Equal(t, Item{ItemID: "i9", Name: "Crunchy cat food 2kg", Category: "pets.cat.food", Brand: "Purrfect", Price: 12.5}, it)

	// Only item_id is required.
	it, err = DecodeItem([]byte("i1"), []byte(`{"item_id":"i1","brand":null}`), Limits{})
	require.NoError(t, err)
	require.Equal(t, Item{ItemID: "i1"}, it)

	// Encode and DecodeItem round-trip.
	in := Item{ItemID: "x", Name: "n", Category: "c.d", Brand: "b", Price: 3}
	v, err := in.Encode()
	require.NoError(t, err)
	out, err := DecodeItem([]byte("x"), v, Limits{})
	require.NoError(t, err)
	require.Equal(t, in, out)

	for _, c := range []struct {
		name, key, value, field, reason string
	}{
		{"malformed", "i1", `{"item_id":`, "", ReasonMalformed},
		{"empty", "i1", ``, "", ReasonMalformed},
		{"missing id", "i1", `{"name":"x"}`, "item_id", ReasonMissingField},
		{"empty id", "", `{"item_id":""}`, "item_id", ReasonInvalidField},
		{"id a number", "1", `{"item_id":1}`, "item_id", ReasonInvalidField},
		{"unknown field", "i1", `{"item_id":"i1","colour":"red"}`, "colour", ReasonUnknownField},
		{"duplicate field", "i1", `{"item_id":"i1","item_id":"i1"}`, "", ReasonMalformed},
		{"negative price", "i1", `{"item_id":"i1","price":-1}`, "price", ReasonInvalidField},
		{"price a string", "i1", `{"item_id":"i1","price":"3"}`, "price", ReasonInvalidField},
		{"key differs", "i2", `{"item_id":"i1"}`, "item_id", ReasonInvalidField},
		{"long name", "i1", `{"item_id":"i1","name":"` + strings.Repeat("a", 2000) + `"}`, "name", ReasonInvalidField},
		{"control character", "i1", `{"item_id":"i1","brand":"a\u0001b"}`, "brand", ReasonInvalidField},
		{"too large", "i1", `{"item_id":"i1","name":"` + strings.Repeat("a", 70000) + `"}`, "", ReasonTooLarge},
	} {
		_, err := DecodeItem([]byte(c.key), []byte(c.value), Limits{})
		var ve *ValidationError
		require.True(t, errors.As(err, &ve), "%s: %v", c.name, err)
		require.Equal(t, c.reason, ve.Reason, "%s: %v", c.name, err)
		if c.field != "" {
			require.Equal(t, c.field, ve.Field, "%s: %v", c.name, err)
		}
	}
}

func FuzzDecodeItem(f *testing.F) {
	f.Add([]byte("i9"), []byte(`{"item_id":"i9","name":"Crunchy cat food 2kg","category":"pets.cat.food","brand":"Purrfect","price":12.5}`))
	f.Add([]byte("i1"), []byte(`{"item_id":"i1","price":null}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		it, err := DecodeItem(key, value, Limits{})
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is not a *ValidationError", err)
			}
			return
		}
		// A decoded item encodes and decodes to itself.
		v, err := it.Encode()
		if err != nil {
			t.Fatalf("encode %+v: %v", it, err)
		}
		back, err := DecodeItem(key, v, Limits{})
		if err != nil || back != it {
			t.Fatalf("round trip of %+v: %+v, %v", it, back, err)
		}
	})
}

func TestCheckItemKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
		ok   bool
	}{
		{"an id", []byte("cat-food-1"), true},
		{"empty", nil, false},
		{"too long", bytes.Repeat([]byte("k"), DefaultMaxIDLength+1), false},
		{"longest", bytes.Repeat([]byte("k"), DefaultMaxIDLength), true},
		{"not UTF-8", []byte{0xff, 0xfe}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckItemKey(tc.key, Limits{})
			if (err == nil) != tc.ok {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
			if err != nil && ReasonOf(err) != ReasonInvalidField {
				t.Errorf("got reason %s, want %s", ReasonOf(err), ReasonInvalidField)
			}
		})
	}
}

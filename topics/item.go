package topics

import (
	"bytes"
	"encoding/json"
	"math"
	"unicode/utf8"
)

// The JSON field names of a catalogue item. fieldItemID and fieldPrice are
// shared with the events.
const (
	fieldName     = "name"
	fieldCategory = "category"
	fieldBrand    = "brand"
)

// maxItemText is the longest name, category or brand accepted, in bytes.
const maxItemText = 1024

// Item is the value of a record on the items topic: one catalogue item,
// keyed by its id. A record with a nil value (a tombstone) withdraws the
// item of its key.
//
//	{"item_id": "i9", "name": "Crunchy cat food 2kg", "category": "pets.cat.food",
//	 "brand": "Purrfect", "price": 12.5}
//
// Only item_id is required. A missing name, category or brand is "", a
// missing price is 0; the model gives what is missing its learned
// "unknown" rows, so the item still gets a vector.
type Item struct {
	ItemID   string  `json:"item_id"`
	Name     string  `json:"name"`
	Category string  `json:"category"`
	Brand    string  `json:"brand"`
	Price    float64 `json:"price"`
}

// Encode returns the canonical JSON of the item.
func (it Item) Encode() ([]byte, error) {
	if err := it.check(); err != nil {
		return nil, err
	}
	return json.Marshal(it)
}

func (it Item) check() error {
	if err := checkID(fieldItemID, it.ItemID, true); err != nil {
		return err
	}
	for _, f := range []struct{ field, v string }{{fieldName, it.Name}, {fieldCategory, it.Category}, {fieldBrand, it.Brand}} {
		if err := checkID(f.field, f.v, false); err != nil {
			return err
		}
		if len(f.v) > maxItemText {
			return invalid(f.field, ReasonInvalidField, "%s is %d bytes long, more than %d", brief(f.v), len(f.v), maxItemText)
		}
	}
	if math.IsNaN(it.Price) || math.IsInf(it.Price, 0) || it.Price < 0 {
		return invalid(fieldPrice, ReasonInvalidField, "%v is not a finite number >= 0", it.Price)
	}
	return nil
}

// DecodeItem decodes and validates the value of one record of the items
// topic whose key is key: [DecodeItemValue], and the item_id must equal
// the record key. Every error is a *ValidationError. A tombstone (nil
// value) is not an item: callers check for it first.
func DecodeItem(key, value []byte, lim Limits) (Item, error) {
	it, err := DecodeItemValue(value, lim)
	if err != nil {
		return Item{}, err
	}
	if string(key) != it.ItemID {
		return Item{}, invalid(fieldItemID, ReasonInvalidField, "item_id %s differs from the record key %s", brief(it.ItemID), brief(string(key)))
	}
	return it, nil
}

// CheckItemKey checks the key of a tombstone on the items topic as
// [DecodeItem] checks an item's: non-empty, valid UTF-8 and at most
// lim.MaxIDLength bytes. The error is a *ValidationError.
func CheckItemKey(key []byte, lim Limits) error {
	lim = lim.withDefaults()
	switch {
	case len(key) == 0:
		return invalid(fieldItemID, ReasonInvalidField, "a tombstone with an empty key")
	case len(key) > lim.MaxIDLength:
		return invalid(fieldItemID, ReasonInvalidField, "a tombstone's key is %d bytes long, more than %d", len(key), lim.MaxIDLength)
	case !utf8.Valid(key):
		return invalid(fieldItemID, ReasonInvalidField, "a tombstone's key is not valid UTF-8")
	}
	return nil
}

// DecodeItemValue decodes and validates an item value (a line of a
// catalogue file). It is as strict as [DecodeEvent]: exactly one JSON
// object, no unknown or repeated field, strings as strings, item_id
// required, non-empty and at most lim.MaxIDLength bytes; name, category and
// brand at most 1 KiB; price a finite number >= 0. Every error is a
// *ValidationError.
func DecodeItemValue(value []byte, lim Limits) (Item, error) {
	lim = lim.withDefaults()
	if len(value) > lim.MaxRecordBytes {
		return Item{}, invalid("", ReasonTooLarge, "the value is %d bytes long, more than %d", len(value), lim.MaxRecordBytes)
	}
	if len(bytes.TrimSpace(value)) == 0 {
		return Item{}, invalid("", ReasonMalformed, "empty value, want a JSON object (a tombstone has no value at all)")
	}
	if !utf8.Valid(value) {
		return Item{}, invalid("", ReasonMalformed, "the value is not valid UTF-8")
	}
	fields, err := objectFields(value)
	if err != nil {
		return Item{}, err
	}
	var it Item
	hasID := false
	for _, f := range fields {
		switch f.name {
		case fieldItemID:
			err = decodeString(f.name, f.raw, &it.ItemID)
			hasID = !isNull(f.raw)
		case fieldName:
			err = decodeString(f.name, f.raw, &it.Name)
		case fieldCategory:
			err = decodeString(f.name, f.raw, &it.Category)
		case fieldBrand:
			err = decodeString(f.name, f.raw, &it.Brand)
		case fieldPrice:
			it.Price, err = decodePrice(f.raw)
		default:
			return Item{}, invalid(safeName(f.name), ReasonUnknownField, "an item has no field %s", brief(f.name))
		}
		if err != nil {
			return Item{}, err
		}
	}
	if !hasID {
		return Item{}, invalid(fieldItemID, ReasonMissingField, "required")
	}
	if err := it.check(); err != nil {
		return Item{}, err
	}
	if len(it.ItemID) > lim.MaxIDLength {
		return Item{}, invalid(fieldItemID, ReasonInvalidField, "%s is %d bytes long, more than %d", brief(it.ItemID), len(it.ItemID), lim.MaxIDLength)
	}
	return it, nil
}

package topics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Recommendation is the value of a record on the recommendations topic:
// the full latest recommendations for one user, with the intents that
// explain them. The record key is the user id. The topic is compacted and
// every record is complete (never a delta), so a consumer that reads the
// latest record of a key has all there is, and a record produced twice
// (output is at-least-once) changes nothing.
//
// The JSON field names are stable: fields may be added, never renamed or
// removed. Every field is always written (nil slices as []). An example
// (testdata/recommendation.golden.json):
//
//	{
//	  "user_id": "u42",
//	  "session_id": "u42/1772366400000",
//	  "intents": [
//	    {"id": "cat-food-1", "items": ["cat-food-1", "cat-food-2"],
//	     "coherence": 0.91, "weight": 0.7, "current": true, "past": false},
//	    {"id": "toy-7", "items": ["toy-7"],
//	     "coherence": 1, "weight": 0.3, "current": false, "past": true}
//	  ],
//	  "items": [
//	    {"item_id": "cat-food-3", "score": 0.63, "intent": "cat-food-1"},
//	    {"item_id": "toy-8", "score": 0.21, "intent": "toy-7"}
//	  ],
//	  "knobs": {"k": 2, "diversity": 0, "history": 0.3, "half_life_s": 86400,
//	            "exclude_seen": true, "exclude_purchased": true,
//	            "category": "", "brand": "", "min_price": 0, "max_price": 0},
//	  "model_version": "m-20260301-01", "arm": "",
//	  "source": {"topic": "clicks", "partition": 3, "offset": 1234,
//	             "event_time": "2026-03-01T12:00:00.25Z"},
//	  "produced_at": "2026-03-01T12:00:00.31Z"
//	}
type Recommendation struct {
	// UserID is the user, also the record key.
	UserID string `json:"user_id"`
	// SessionID identifies the user's current session (the processor's
	// own sessionization, by event time), "" when there is none.
	SessionID string `json:"session_id"`
	// Intents are the intents the items were drawn from: the current
	// session's first, then those kept from past sessions.
	Intents []Intent `json:"intents"`
	// Items are the recommended items, best first.
	Items []RecommendedItem `json:"items"`
	// Knobs are the ranking settings the items were computed with.
	Knobs Knobs `json:"knobs"`
	// ModelVersion is the version of the model artefact that computed the
	// items.
	ModelVersion string `json:"model_version"`
	// Arm is the user's arm of an A/B split (run --ab), "" when the
	// instance serves one model. A user whose arm's model is missing or
	// refused is served by the other arm's: the record keeps the user's
	// arm and names the version that computed it.
	Arm string `json:"arm"`
	// Source is the input record that produced this one: replays and
	// idempotent consumers compare its offsets.
	Source Source `json:"source"`
	// ProducedAt is when the processor produced the record (its clock),
	// written in UTC.
	ProducedAt time.Time `json:"produced_at"`
}

// Intent is one of the user's intents: a group of items that belong
// together (cat food; a cat toy), with how coherent it is and how much it
// weighs in the recommendations.
type Intent struct {
	// ID names the intent: stable while it grows, kept when an intent of
	// a past session resumes. RecommendedItem.Intent refers to it.
	ID string `json:"id"`
	// Items are the item ids of the intent's members, oldest first.
	Items []string `json:"items"`
	// Coherence is the mean cosine of the members to their centroid, in
	// [-1, 1]; 1 for a single item.
	Coherence float64 `json:"coherence"`
	// Weight is the intent's share of the ranking, in [0, 1]; the weights
	// of a record's intents sum to 1.
	Weight float64 `json:"weight"`
	// Current marks the intent holding the session's most recent item.
	Current bool `json:"current"`
	// Past marks an intent kept from an earlier session of the user.
	Past bool `json:"past"`
}

// RecommendedItem is one recommended item.
type RecommendedItem struct {
	// ItemID is the item.
	ItemID string `json:"item_id"`
	// Score is the relevance, higher is better: Vector alone when the
	// neighbourhood term is off (Knobs.Neighbours 0, or a model without
	// training sessions), else (1-w)·exp((Vector-best)/0.05) + w·Neighbours
	// for w = Knobs.Neighbours and best the highest Vector of the list's
	// candidates; plus 0.03·Sequence, plus Repeat.
	Score float64 `json:"score"`
	// Intent is the ID of the intent that produced the item: the one whose
	// centroid the item is closest to, weight for weight.
	Intent string `json:"intent"`
	// Vector is the evidence of the item vectors: the item's cosine to
	// Intent's centroid times the intent's weight.
	Vector float64 `json:"vector"`
	// Neighbours is the evidence of the neighbourhood term: how strongly
	// the training sessions most like this one went on to the item, over
	// the strongest item's (1 for it; 0 for an item none of them holds).
	Neighbours float64 `json:"neighbours"`
	// Sequence is the evidence of the sequential rules: how strongly the
	// training sessions went on to the item right after the session's
	// latest item, over the strongest follower's (0 for an item that never
	// followed it).
	Sequence float64 `json:"sequence"`
	// Repeat is what the item gained for being in the user's current
	// session (seen items are excluded unless Knobs.ExcludeSeen is off):
	// 1 for the latest, 0.03 for an earlier one, 0 for any other item.
	Repeat float64 `json:"repeat"`
}

// Knobs are the ranking settings a recommendation was computed with (the
// processor's defaults for records it publishes; the caller's for the HTTP
// API).
type Knobs struct {
	// K is the number of items asked for.
	K int `json:"k"`
	// Diversity in [0, 1] trades relevance for variety (maximal marginal
	// relevance): 0 ranks by relevance alone.
	Diversity float64 `json:"diversity"`
	// History in [0, 1] is the weight of past sessions' intents against
	// the current session's.
	History float64 `json:"history"`
	// HalfLifeSeconds is how fast past intents fade: their weight halves
	// every HalfLifeSeconds seconds.
	HalfLifeSeconds float64 `json:"half_life_s"`
	// Neighbours in [0, 1] is the weight of the neighbourhood term (what
	// training sessions like this one went on to) against the vectors.
	Neighbours float64 `json:"neighbours"`
	// ExcludeSeen drops items the user clicked.
	ExcludeSeen bool `json:"exclude_seen"`
	// ExcludePurchased drops items the user bought.
	ExcludePurchased bool `json:"exclude_purchased"`
	// Category keeps items of this category or below it; "" keeps all.
	Category string `json:"category"`
	// Brand keeps items of this brand; "" keeps all.
	Brand string `json:"brand"`
	// MinPrice and MaxPrice keep items whose price is in the range, in the
	// shop's currency units; 0 means no bound.
	MinPrice float64 `json:"min_price"`
	// MaxPrice: see MinPrice.
	MaxPrice float64 `json:"max_price"`
}

// Source names the input record that caused a recommendation.
type Source struct {
	// Topic is the input topic (clicks or purchases).
	Topic Topic `json:"topic"`
	// Partition is the input partition.
	Partition int32 `json:"partition"`
	// Offset is the input record's offset.
	Offset int64 `json:"offset"`
	// EventTime is the input event's time (written in UTC).
	EventTime time.Time `json:"event_time"`
}

// Encode returns r as compact JSON (see [Recommendation] for the schema):
// nil slices are written as [], times in UTC. It fails on a NaN or
// infinite score, coherence, weight or knob, which JSON cannot hold.
func (r Recommendation) Encode() ([]byte, error) {
	r.ProducedAt = r.ProducedAt.UTC()
	r.Source.EventTime = r.Source.EventTime.UTC()
	if r.Items == nil {
		r.Items = []RecommendedItem{}
	}
	// Copy before filling nil item lists: the caller's slice is not ours
	// to change.
	intents := make([]Intent, len(r.Intents))
	for i, in := range r.Intents {
		if in.Items == nil {
			in.Items = []string{}
		}
		intents[i] = in
	}
	r.Intents = intents
	b, err := marshal(r)
	if err != nil {
		return nil, fmt.Errorf("topics: encode recommendation for user %s: %w", brief(r.UserID), err)
	}
	return b, nil
}

// DecodeRecommendation decodes a record value of the recommendations topic
// strictly: one JSON object, no field outside the schema, nothing after
// it. value is not retained.
func DecodeRecommendation(value []byte) (Recommendation, error) {
	var r Recommendation
	if err := unmarshalStrict(value, &r); err != nil {
		return Recommendation{}, fmt.Errorf("topics: decode recommendation: %w", err)
	}
	return r, nil
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// unmarshalStrict decodes exactly one JSON object into v, refusing fields v
// does not have and anything but white space after the value.
func unmarshalStrict(data []byte, v any) error {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

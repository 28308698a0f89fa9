package topics

import (
	"errors"
	"fmt"
	"strings"
)

// Topic is the name of a Kafka topic. The names the system uses are values
// of this type, never bare strings: the defaults are the constants below,
// [Names] carries a deployment's choice, and derived names come from
// functions ([Changelog]).
type Topic string

// The default topic names (shared/DESIGN.md, Topics). Every one of them can
// be renamed through [Names].
const (
	// Clicks is the click input topic: key user id, value a click event.
	Clicks Topic = "clicks"
	// Purchases is the purchase input topic, co-partitioned with Clicks:
	// key user id, value a purchase event.
	Purchases Topic = "purchases"
	// Recommendations is the compacted output topic: key user id, value the
	// user's latest [Recommendation].
	Recommendations Topic = "recommendations"
	// DeadLetters is where input records that cannot be applied go: key the
	// original key, value a [DeadLetter].
	DeadLetters Topic = "events-dlq"
	// Items is the compacted catalogue: key item id, value the item, or a
	// tombstone when the item is withdrawn.
	Items Topic = "items"
	// Models is the compacted topic of model artefacts, keyed by model
	// version.
	Models Topic = "models"
	// Erasures carries requests to forget a user, co-partitioned with
	// Clicks: key user id, value an [Erasure].
	Erasures Topic = "erasures"
)

// MaxTopicLength is the longest topic name Kafka accepts, in bytes.
const MaxTopicLength = 249

// changelogSuffix ends the changelog topic of a consumer group.
const changelogSuffix = "-state"

// ErrInvalidName is returned, wrapped with the name and the reason, by
// [Topic.Validate] and [Names.Validate] for a name Kafka would refuse or
// that collides with another.
var ErrInvalidName = errors.New("topics: invalid topic name")

// String returns the name.
func (t Topic) String() string { return string(t) }

// Validate returns nil when Kafka accepts t as a topic name: 1 to
// [MaxTopicLength] bytes of ASCII letters, digits, '.', '_' and '-', and
// neither "." nor "..". Otherwise it returns an error that wraps
// [ErrInvalidName].
func (t Topic) Validate() error {
	if p := t.problem(); p != "" {
		return fmt.Errorf("%w: %s", ErrInvalidName, p)
	}
	return nil
}

// problem says what is wrong with t as a topic name, or "" when nothing is.
func (t Topic) problem() string {
	switch {
	case t == "":
		return "empty"
	case len(t) > MaxTopicLength:
		return fmt.Sprintf("%.40q... is %d bytes long, more than %d", string(t), len(t), MaxTopicLength)
	case t == "." || t == "..":
		return fmt.Sprintf("%q", string(t))
	}
	for i := range len(t) {
		if !legalTopicByte(t[i]) {
			return fmt.Sprintf("%.40q has %q at byte %d: only ASCII letters, digits, '.', '_' and '-' are allowed",
				string(t), t[i], i)
		}
	}
	return ""
}

func legalTopicByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// collisionKey is what Kafka compares to find colliding names: its metric
// names turn '.' into '_', so it refuses a topic "a.b" when "a_b" exists.
func (t Topic) collisionKey() string { return strings.ReplaceAll(string(t), ".", "_") }

// Changelog returns the changelog topic of the consumer group group:
// "<group>-state". Each processor partition's Pebble state is backed up to
// the same partition number of it, so it has as many partitions as the
// input topics and is compacted (see [Admin.CreateChangelog]). The name is
// not validated here; [Topic.Validate] does that (a group name may hold
// characters a topic name may not).
func Changelog(group string) Topic { return Topic(group + changelogSuffix) }

// Names are the topic names of one deployment. The zero value of a field
// means its default (the constant of the same name); [Names.WithDefaults]
// fills them in.
type Names struct {
	// Clicks is the click input topic. Default [Clicks].
	Clicks Topic
	// Purchases is the purchase input topic, co-partitioned with Clicks.
	// Default [Purchases].
	Purchases Topic
	// Recommendations is the compacted output topic. Default
	// [Recommendations].
	Recommendations Topic
	// DeadLetters is the dead-letter topic. Default [DeadLetters].
	DeadLetters Topic
	// Items is the compacted catalogue topic. Default [Items].
	Items Topic
	// Models is the compacted model topic. Default [Models].
	Models Topic
	// Erasures is the topic of requests to forget a user, co-partitioned
	// with Clicks. Default [Erasures].
	Erasures Topic
}

// DefaultNames returns the default name of every topic.
func DefaultNames() Names {
	return Names{
		Clicks:          Clicks,
		Purchases:       Purchases,
		Recommendations: Recommendations,
		DeadLetters:     DeadLetters,
		Items:           Items,
		Models:          Models,
		Erasures:        Erasures,
	}
}

// WithDefaults returns n with every empty name replaced by its default.
func (n Names) WithDefaults() Names {
	d := DefaultNames()
	defaults := d.fields()
	for i, f := range n.fields() {
		if *f.name == "" {
			*f.name = *defaults[i].name
		}
	}
	return n
}

// namedField is one field of Names, for the loops over all of them.
type namedField struct {
	role string // the field's role, as written in errors ("clicks")
	name *Topic
}

// fields returns pointers to n's fields in declaration order.
func (n *Names) fields() []namedField {
	return []namedField{
		{"clicks", &n.Clicks},
		{"purchases", &n.Purchases},
		{"recommendations", &n.Recommendations},
		{"dead letters", &n.DeadLetters},
		{"items", &n.Items},
		{"models", &n.Models},
		{"erasures", &n.Erasures},
	}
}

// All returns the seven names in the order Clicks, Purchases,
// Recommendations, DeadLetters, Items, Models, Erasures. The slice is the caller's.
func (n Names) All() []Topic {
	fs := n.fields()
	out := make([]Topic, len(fs))
	for i, f := range fs {
		out[i] = *f.name
	}
	return out
}

// Validate returns nil when every name is a legal topic name (see
// [Topic.Validate]) and no two names are equal or collide in Kafka's eyes
// ("a.b" and "a_b"). An empty name is an error: call [Names.WithDefaults]
// first to accept defaults. Errors wrap [ErrInvalidName]; all problems are
// reported, joined.
func (n Names) Validate() error {
	var errs []error
	seen := make(map[string]namedField) // collision key -> first field with it
	for _, f := range n.fields() {
		if p := f.name.problem(); p != "" {
			errs = append(errs, fmt.Errorf("%w for %s: %s", ErrInvalidName, f.role, p))
			continue
		}
		k := f.name.collisionKey()
		if other, ok := seen[k]; ok {
			why := "each topic needs its own name"
			if *f.name != *other.name {
				why = "Kafka takes '.' and '_' for the same character"
			}
			errs = append(errs, fmt.Errorf("%w for %s: %q collides with the %s topic %q: %s",
				ErrInvalidName, f.role, string(*f.name), other.role, string(*other.name), why))
			continue
		}
		seen[k] = f
	}
	return errors.Join(errs...)
}

// KindOf returns the kind of event topic t carries: [KindClick] for
// n.Clicks, [KindPurchase] for n.Purchases, and false for any other topic.
// n must have its defaults filled in.
func (n Names) KindOf(t Topic) (Kind, bool) {
	switch t {
	case n.Clicks:
		return KindClick, true
	case n.Purchases:
		return KindPurchase, true
	}
	return 0, false
}

// WithSuffix returns n, its zero names filled with the defaults, with
// suffix appended to every name: a separate set of topics on a shared
// cluster (benchmarks, tests).
func (n Names) WithSuffix(suffix string) Names {
	n = n.WithDefaults()
	for _, t := range []*Topic{&n.Clicks, &n.Purchases, &n.Recommendations, &n.DeadLetters, &n.Items, &n.Models, &n.Erasures} {
		*t += Topic(suffix)
	}
	return n
}

package processor

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/sessionrec/sessionrec/topics"
)

// An A/B split (Config.Split) serves two model versions from the models
// topic side by side. Each user belongs to one arm for good: AssignArm is
// a pure function of the user id and arm A's share, so every instance,
// before and after any restart or rebalance, and any other service that
// computes it, puts a user in the same arm. The models follower serves
// both versions (models.go), the views keep an engine per arm
// (catalogue.go) and publish them together (publishArmsLocked), and a
// partition or the query API asks userEngine for the engine of a user.

// The names of a split's arms, in Config.Split's order: records
// (topics.Recommendation.Arm) and the query API give them.
const (
	ArmA = "A"
	ArmB = "B"
)

var armNames = [2]string{ArmA, ArmB}

// Arm is one arm of an A/B split: a model version on the models topic and
// the share of users it serves.
type Arm struct {
	// Version is the model version, as published on the models topic
	// (its manifest's key).
	Version string
	// Share of the users, > 0. The shares of a split are normalised to sum
	// to 1, so 90 and 10 are 0.9 and 0.1.
	Share float64
}

// ErrNotInSplit is returned by SetModel, with an A/B split, for a model
// whose version is neither arm's.
var ErrNotInSplit = errors.New("processor: model version not in the A/B split")

// normaliseSplit checks a split, and returns a copy whose shares sum to 1;
// nil for none.
func normaliseSplit(split []Arm) ([]Arm, error) {
	if len(split) == 0 {
		return nil, nil
	}
	if len(split) != 2 {
		return nil, fmt.Errorf("processor: A/B split: %d arms, want 2", len(split))
	}
	if split[0].Version == split[1].Version {
		return nil, fmt.Errorf("processor: A/B split: both arms are version %q, want two versions", split[0].Version)
	}
	var sum float64
	for i, a := range split {
		if v, chunk, err := topics.ParseModelKey(a.Version); err != nil || chunk >= 0 || v != a.Version {
			return nil, fmt.Errorf("processor: A/B split: arm %s: %q is no model version (a models-topic manifest key)", armNames[i], a.Version)
		}
		if !(a.Share > 0) || math.IsInf(a.Share, 0) {
			return nil, fmt.Errorf("processor: A/B split: arm %s (%s) has share %g, want > 0", armNames[i], a.Version, a.Share)
		}
		sum += a.Share
	}
	if math.IsInf(sum, 0) {
		return nil, fmt.Errorf("processor: A/B split: shares %g and %g overflow", split[0].Share, split[1].Share)
	}
	out := make([]Arm, 2)
	for i, a := range split {
		out[i] = Arm{Version: a.Version, Share: a.Share / sum}
	}
	return out, nil
}

// armSalt is hashed before the user id, so that the arms are independent
// of every other use of the id's hash (murmur2 for the partitions above
// all: an arm must not be a set of partitions).
const armSalt = "sessionrec-ab:"

// ArmPoint is where a user falls in [0, 1) for the A/B assignment: the
// first 8 bytes of SHA-256("sessionrec-ab:" + userID) as a big-endian
// unsigned integer, its top 53 bits divided by 2^53. It depends on the id
// alone (no seed, no process or machine), so any service can compute it.
//
// SHA-256 rather than a faster hash: every language has it in its
// standard library, and FNV-1a's top bits barely move with the id's last
// byte (user-1 to user-9 would fall within 1e-6 of each other).
func ArmPoint(userID string) float64 {
	var buf [128]byte
	b := append(append(buf[:0], armSalt...), userID...)
	sum := sha256.Sum256(b)
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// AssignArm returns a user's arm under a split whose arm A has the share
// shareA of the users (normalised, in (0, 1)): ArmA when
// ArmPoint(userID) < shareA, else ArmB.
func AssignArm(userID string, shareA float64) string {
	return armNames[armIndex(userID, shareA)]
}

func armIndex(userID string, shareA float64) int {
	if ArmPoint(userID) < shareA {
		return 0
	}
	return 1
}

// armEngines are the engines of a split's arms at one moment, published
// together on the engine the processor serves (Engine.arms): a batch
// routes its users with the set its engine carries, so that a user's
// events in one batch are all handled by one engine.
type armEngines struct {
	shareA float64
	// own are the arms' engines: nil for an arm whose version is missing
	// from the models topic or was refused.
	own [2]*Engine
	// serve are the engines that serve the arms' users: the arm's own,
	// else a copy of the other arm's that counts its rankings as the
	// arm's fallbacks (Engine.fallback); nil when neither arm has one.
	serve [2]*Engine
}

// userEngine returns the engine that serves user, and the user's arm, from
// the serving engine eng: without an A/B split, eng and "". With one, the
// engine of the user's arm, or the other arm's while the user's has none;
// the arm is the user's own either way (a record's model_version says
// which version served it).
func userEngine(eng *Engine, user string) (*Engine, string) {
	if eng == nil || eng.arms == nil {
		return eng, ""
	}
	i := armIndex(user, eng.arms.shareA)
	return eng.arms.serve[i], armNames[i]
}

// routeUser is partition.route: the engine that serves a user, and the
// user's arm, from the batch's engine eng (userEngine).
func (p *Processor) routeUser(eng *Engine, user string) (*Engine, string) {
	return userEngine(eng, user)
}

// engines returns the distinct engines behind e: the arms' own with a
// split, else e.
func (e *Engine) engines() []*Engine {
	if e.arms == nil {
		return []*Engine{e}
	}
	var out []*Engine
	for _, x := range e.arms.own {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}

// armOf returns the index of version's arm in the split; -1 when it is in
// none.
func armOf(split []Arm, version string) int {
	for i, a := range split {
		if a.Version == version {
			return i
		}
	}
	return -1
}

// slot returns where the views keep the model of version: 0 without a
// split, its arm's index with one, and ErrNotInSplit for a version in no
// arm.
func (v *views) slot(version string) (int, error) {
	if len(v.cfg.Split) == 0 {
		return 0, nil
	}
	i := armOf(v.cfg.Split, version)
	if i < 0 {
		return 0, fmt.Errorf("%w: %q is neither A (%s) nor B (%s)", ErrNotInSplit, version, v.cfg.Split[0].Version, v.cfg.Split[1].Version)
	}
	return i, nil
}

// publishArmsLocked serves the arms' engines together: the serving engine
// is a copy of arm A's (B's while A has none) that carries them all, so
// that Processor.Engine, the catalogue and the item endpoints go on with
// one engine, and a batch routes its users with the set it started with.
// An arm without an engine is served by a copy of the other's that counts
// its rankings. The caller holds v.cat.mu.
func (v *views) publishArmsLocked() {
	c := v.cat
	a := &armEngines{shareA: v.cfg.Split[0].Share}
	copy(a.own[:], c.engines)
	for i := range a.own {
		a.serve[i] = a.own[i]
		if other := a.own[1-i]; a.own[i] == nil && other != nil {
			stand := *other
			arm, m := armNames[i], v.cfg.Metrics
			stand.fallback = func() { m.abFallback(arm) }
			a.serve[i] = &stand
		}
	}
	primary := a.own[0]
	if primary == nil {
		primary = a.own[1]
	}
	if primary == nil {
		return // no model yet
	}
	serving := *primary
	serving.arms = a
	v.setEngine(&serving)
	v.reportArmsLocked()
}

// armsCaughtUp is called once the models topic was read up to its end at
// start (or found missing): from then on an arm that falls back, or stops
// falling back, is logged; before, an arm read second would be logged as
// missing while the first is built.
func (v *views) armsCaughtUp() {
	if len(v.cfg.Split) == 0 {
		return
	}
	c := v.cat
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armsReported = true
	v.reportArmsLocked()
}

// reportArmsLocked logs, at Warn, each arm that starts or stops falling
// back to the other arm's version since the last report: once per
// change, not per user. The caller holds v.cat.mu.
func (v *views) reportArmsLocked() {
	c := v.cat
	if !c.armsReported {
		return
	}
	for i := range c.fellBack {
		own, other := c.engines[i], c.engines[1-i]
		falls := own == nil && other != nil
		if falls == c.fellBack[i] {
			continue
		}
		c.fellBack[i] = falls
		if falls {
			v.cfg.Logger.Warn("A/B split: an arm's model version is missing from the models topic or was refused; its users are served by the other arm's until it comes",
				"arm", armNames[i], "version", v.cfg.Split[i].Version, "served_by", other.Version())
		} else {
			v.cfg.Logger.Warn("A/B split: an arm is served by its own model version again", "arm", armNames[i], "version", v.cfg.Split[i].Version)
		}
	}
}

// armVersions are the versions of a split, by arm; nil without one.
func armVersions(split []Arm) []string {
	if len(split) == 0 {
		return nil
	}
	return []string{split[0].Version, split[1].Version}
}

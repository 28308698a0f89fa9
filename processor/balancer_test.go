package processor

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
)

// groupSim runs stickyBalancer over simulated members, as the group
// coordinator's leader would: each generation, every member joins with
// the user data its memberState gives, and takes its assignment.
type groupSim struct {
	t          *testing.T
	partitions int
	gen        int32
	members    map[string]*simMember
	// owner is the last assignment: partition -> member ID.
	owner map[int32]string
	next  int // for fresh member IDs (as the coordinator gives them)
}

type simMember struct {
	id    string
	name  string // the instance; its ID changes at every start
	state *memberState
	// store: partition -> changelog position, what the member's store holds.
	store map[int32]int64
}

func newGroupSim(t *testing.T, partitions int) *groupSim {
	return &groupSim{t: t, partitions: partitions, members: map[string]*simMember{}, owner: map[int32]string{}}
}

// start starts an instance (a fresh process: nothing owned, its store
// as it was) and rebalances.
func (g *groupSim) start(name string, store map[int32]int64) *simMember {
	g.next++
	m := &simMember{id: fmt.Sprintf("member-%03d", 1000-g.next), name: name, store: store}
	m.state = &memberState{advertise: name + ":8080", held: func() map[int32]int64 { return maps.Clone(m.store) }}
	g.members[m.id] = m
	g.rebalance()
	return m
}

// stop stops an instance and rebalances; it returns its store.
func (g *groupSim) stop(name string) map[int32]int64 {
	for id, m := range g.members {
		if m.name == name {
			delete(g.members, id)
			g.rebalance()
			return m.store
		}
	}
	g.t.Fatalf("no member %s", name)
	return nil
}

func (g *groupSim) rebalance() {
	g.t.Helper()
	g.gen++
	var members []kafka.GroupMember
	for _, m := range g.members {
		ud, err := stickyBalancer{self: m.state}.UserData()
		if err != nil {
			g.t.Fatal(err)
		}
		members = append(members, kafka.GroupMember{ID: m.id, Topics: []string{"clicks", "purchases"}, UserData: ud})
	}
	var parts []kafka.Partition
	for _, topic := range []string{"clicks", "purchases"} {
		for i := range g.partitions {
			parts = append(parts, kafka.Partition{Topic: topic, ID: i})
		}
	}
	out := stickyBalancer{}.AssignGroups(members, parts)
	g.owner = map[int32]string{}
	counts := map[string]int{}
	for id, topics := range out {
		if !slices.Equal(topics["clicks"], topics["purchases"]) {
			g.t.Fatalf("member %s: clicks %v, purchases %v: not co-partitioned", id, topics["clicks"], topics["purchases"])
		}
		var owned []int32
		for _, p := range topics["clicks"] {
			if prev, ok := g.owner[int32(p)]; ok {
				g.t.Fatalf("partition %d assigned to %s and %s", p, prev, id)
			}
			g.owner[int32(p)] = id
			owned = append(owned, int32(p))
			g.members[id].store[int32(p)] = int64(g.gen) // the owner's store is the newest
		}
		counts[id] = len(owned)
		g.members[id].state.setOwned(g.gen, owned)
	}
	if len(g.owner) != g.partitions {
		g.t.Fatalf("%d partitions assigned, want %d", len(g.owner), g.partitions)
	}
	lo, hi := g.partitions/len(g.members), (g.partitions+len(g.members)-1)/len(g.members)
	for id, n := range counts {
		if n < lo || n > hi {
			g.t.Fatalf("member %s has %d partitions, want %d to %d (%v)", id, n, lo, hi, counts)
		}
	}
}

// byName returns the last assignment as partition -> instance name.
func (g *groupSim) byName() map[int32]string {
	out := map[int32]string{}
	for p, id := range g.owner {
		out[p] = g.members[id].name
	}
	return out
}

// moved returns the partitions whose instance differs between a and b,
// among those a instance of keep had in a.
func moved(a, b map[int32]string, keep ...string) []int32 {
	var out []int32
	for p, name := range a {
		if slices.Contains(keep, name) && b[p] != name {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func TestStickyBalancerRollingRestartMovesNothing(t *testing.T) {
	g := newGroupSim(t, 12)
	g.start("a", map[int32]int64{})
	g.start("b", map[int32]int64{})
	// A joining member takes partitions only from members above their share.
	before := g.byName()
	g.start("c", map[int32]int64{})
	after := g.byName()
	if n := len(moved(before, after, "a", "b")); n != 4 {
		t.Fatalf("c joined: %d partitions moved, want 4 (its share): %v -> %v", n, before, after)
	}
	// Roll every instance: stop it, start it again on its store.
	initial := g.byName()
	for _, name := range []string{"a", "b", "c"} {
		others := slices.DeleteFunc([]string{"a", "b", "c"}, func(s string) bool { return s == name })
		before := g.byName()
		store := g.stop(name)
		during := g.byName()
		if m := moved(before, during, others...); len(m) > 0 {
			t.Fatalf("%s stopped: partitions %v of the others moved: %v -> %v", name, m, before, during)
		}
		g.start(name, store)
		if m := moved(before, g.byName(), "a", "b", "c"); len(m) > 0 {
			t.Fatalf("%s restarted: partitions %v are not where they were: %v -> %v", name, m, before, g.byName())
		}
	}
	if !maps.Equal(initial, g.byName()) {
		t.Fatalf("after the roll: %v, before it %v", g.byName(), initial)
	}
}

func TestStickyBalancerLostDiskAndUneven(t *testing.T) {
	g := newGroupSim(t, 5)
	g.start("a", map[int32]int64{})
	g.start("b", map[int32]int64{})
	before := g.byName()
	// b comes back on a fresh disk: it holds nothing, and gets what a
	// does not keep (a keeps its own; b's go back to b as the fewest).
	g.stop("b")
	g.start("b", map[int32]int64{})
	if m := moved(before, g.byName(), "a"); len(m) > 0 {
		t.Fatalf("a's partitions %v moved: %v -> %v", m, before, g.byName())
	}
	// One member alone takes everything; a second, new, takes its share
	// of them and no more.
	g.stop("b")
	alone := g.byName()
	for p, name := range alone {
		if name != "a" {
			t.Fatalf("a alone: partition %d is on %s", p, name)
		}
	}
	g.start("c", map[int32]int64{})
	if m := moved(alone, g.byName(), "a"); len(m) != 2 {
		t.Fatalf("c joined: partitions %v moved, want 2 of 5: %v", m, g.byName())
	}
}

func TestStickyBalancerTwoClaims(t *testing.T) {
	// Two members say they ran partition 0 (one was paused through a
	// generation): the newer claim wins.
	old, _ := json.Marshal(memberData{Owned: map[int32]int32{0: 3}})
	newer, _ := json.Marshal(memberData{Owned: map[int32]int32{0: 7}})
	out := stickyBalancer{}.AssignGroups([]kafka.GroupMember{
		{ID: "a", Topics: []string{"clicks"}, UserData: old},
		{ID: "b", Topics: []string{"clicks"}, UserData: newer},
	}, []kafka.Partition{{Topic: "clicks", ID: 0}, {Topic: "clicks", ID: 1}})
	if got := out["b"]["clicks"]; !slices.Equal(got, []int{0}) {
		t.Fatalf("b got %v, want [0]: %v", got, out)
	}
}

func TestDecodeMemberDataOfRangeMembers(t *testing.T) {
	if got := decodeMemberData([]byte("10.0.0.1:8080")).Advertise; got != "10.0.0.1:8080" {
		t.Fatalf("advertise %q", got)
	}
	b, _ := json.Marshal(memberData{Advertise: "h:1", Held: map[int32]int64{3: 9}})
	if d := decodeMemberData(b); d.Advertise != "h:1" || d.Held[3] != 9 {
		t.Fatalf("decoded %+v", d)
	}
}

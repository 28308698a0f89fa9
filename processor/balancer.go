package processor

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/segmentio/kafka-go"
)

// stickyProtocol is the sticky balancer's protocol name in the group.
const stickyProtocol = "sessionrec-sticky"

// memberData is the user data a member joins the group with: its query
// API address, the partitions it ran in its last generation, and the
// partitions whose state its store holds.
type memberData struct {
	// Advertise is the member's query API address (Config.Advertise).
	Advertise string `json:"advertise,omitempty"`
	// Owned maps each partition the member ran in its last generation to
	// the generation it got it in.
	Owned map[int32]int32 `json:"owned,omitempty"`
	// Held maps each partition whose state the member's store holds to
	// the store's changelog position: a member that gets it restores
	// only the changelog's tail past it.
	Held map[int32]int64 `json:"held,omitempty"`
}

// decodeMemberData decodes a member's user data. Data that is not JSON is
// a member of the range protocol's era, whose user data was its address.
func decodeMemberData(b []byte) memberData {
	var d memberData
	if len(b) > 0 && b[0] == '{' && json.Unmarshal(b, &d) == nil {
		return d
	}
	return memberData{Advertise: string(b)}
}

// stickyBalancer is a kafka-go GroupBalancer that moves as few partitions
// as it can. Each partition number goes, in this order of preference:
//
//  1. to the member that ran it in the last generation, if it is still a
//     member (a member over its share gives up the partitions it got
//     most recently first);
//  2. to a member whose store holds its state, the one with the newest
//     first (it restores only the changelog's tail);
//  3. to the member with the fewest partitions.
//
// Every member gets its share: the partition count divided by the member
// count, or one more. Partition p of every subscribed topic goes to the
// same member, so clicks and purchases stay co-partitioned.
//
// So a member that joins takes partitions only from members above their
// share, and a member that restarts (a rolling restart) gets back the
// partitions its store holds, which the others took meanwhile as their
// most recent: after the roll, every partition is where it was.
type stickyBalancer struct {
	self *memberState
}

// memberState is what this instance says of itself when it joins. It is
// safe for concurrent use.
type memberState struct {
	advertise string
	// held returns the partitions the store holds, with their positions;
	// nil means none.
	held func() map[int32]int64

	mu    sync.Mutex
	owned map[int32]int32
}

// setOwned records the partitions of a new generation: those kept keep
// the generation they were got in.
func (s *memberState) setOwned(gen int32, ids []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[int32]int32, len(ids))
	for _, id := range ids {
		since, ok := s.owned[id]
		if !ok {
			since = gen
		}
		next[id] = since
	}
	s.owned = next
}

func (s *memberState) data() memberData {
	s.mu.Lock()
	d := memberData{Advertise: s.advertise, Owned: maps.Clone(s.owned)}
	s.mu.Unlock()
	if s.held != nil {
		d.Held = s.held()
	}
	return d
}

func (stickyBalancer) ProtocolName() string { return stickyProtocol }

func (b stickyBalancer) UserData() ([]byte, error) { return json.Marshal(b.self.data()) }

func (stickyBalancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	out := kafka.GroupMemberAssignments{}
	if len(members) == 0 {
		return out
	}
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b kafka.GroupMember) int { return strings.Compare(a.ID, b.ID) })
	var ids []int32
	for _, p := range partitions {
		ids = append(ids, int32(p.ID))
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	data := make([]memberData, len(members))
	for i, m := range members {
		data[i] = decodeMemberData(m.UserData)
	}
	owner := assignSticky(ids, data)
	for _, m := range members {
		topics := map[string][]int{}
		for _, t := range m.Topics {
			topics[t] = []int{}
		}
		out[m.ID] = topics
	}
	for _, p := range partitions {
		m := members[owner[int32(p.ID)]]
		if parts, ok := out[m.ID][p.Topic]; ok {
			out[m.ID][p.Topic] = append(parts, p.ID)
		}
	}
	for _, topics := range out {
		for _, parts := range topics {
			slices.Sort(parts)
		}
	}
	return out
}

// assignSticky assigns each partition number of ids to a member, by index
// in members, as stickyBalancer says.
func assignSticky(ids []int32, members []memberData) map[int32]int {
	n, m := len(ids), len(members)
	base, extra := n/m, n%m
	count := make([]int, m)
	owner := make(map[int32]int, n)
	// room reports whether member i is below its share: base partitions,
	// or one more while members with one more are still to be had.
	room := func(i int) bool { return count[i] < base || (count[i] == base && extra > 0) }
	take := func(i int, id int32) bool {
		if _, done := owner[id]; done || !room(i) {
			return false
		}
		if count[i] == base {
			extra--
		}
		count[i]++
		owner[id] = i
		return true
	}
	exists := make(map[int32]bool, n)
	for _, id := range ids {
		exists[id] = true
	}
	// 1. Last owners keep what they ran, longest held first. A partition
	// two members say they ran goes to the newer claim.
	last := map[int32]int{}
	for i, d := range members {
		for id, since := range d.Owned {
			if j, ok := last[id]; !ok || since > members[j].Owned[id] {
				last[id] = i
			}
		}
	}
	for i, d := range members {
		kept := make([]int32, 0, len(d.Owned))
		for id := range d.Owned {
			if exists[id] && last[id] == i {
				kept = append(kept, id)
			}
		}
		slices.SortFunc(kept, func(a, b int32) int {
			return cmp.Or(cmp.Compare(d.Owned[a], d.Owned[b]), cmp.Compare(a, b))
		})
		for _, id := range kept {
			take(i, id)
		}
	}
	// 2. Members whose stores hold the state, newest first.
	for _, id := range ids {
		if _, done := owner[id]; done {
			continue
		}
		var cands []int
		for i, d := range members {
			if _, ok := d.Held[id]; ok {
				cands = append(cands, i)
			}
		}
		slices.SortStableFunc(cands, func(a, b int) int {
			return cmp.Compare(members[b].Held[id], members[a].Held[id])
		})
		for _, i := range cands {
			if take(i, id) {
				break
			}
		}
	}
	// 3. The rest to the members with the fewest.
	for _, id := range ids {
		if _, done := owner[id]; done {
			continue
		}
		best := -1
		for i := range members {
			if room(i) && (best < 0 || count[i] < count[best]) {
				best = i
			}
		}
		take(best, id)
	}
	return owner
}

// formatPartitions formats partition numbers for a log line.
func formatPartitions(ids []int32) string {
	b := make([]byte, 0, 4*len(ids))
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(b)
}

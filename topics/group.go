package topics

import (
	"context"
	"fmt"
)

// GroupMember is one member of a consumer group as the coordinator
// describes it.
type GroupMember struct {
	// ID is the member ID the coordinator gave it.
	ID string
	// UserData is what the member attached to its join request (the
	// processor puts the address of its query API there).
	UserData []byte
	// Assigned lists the partitions of each topic assigned to it in the
	// current generation.
	Assigned map[Topic][]int32
}

// GroupMembers describes the members of a consumer group of the consumer
// protocol; none when the group is empty or unknown.
func (a *Admin) GroupMembers(ctx context.Context, group string) ([]GroupMember, error) {
	groups, err := a.adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("topics: describe group %s: %w", brief(group), err)
	}
	g, ok := groups[group]
	if !ok {
		return nil, nil
	}
	if g.Err != nil {
		return nil, fmt.Errorf("topics: describe group %s: %w", brief(group), g.Err)
	}
	out := make([]GroupMember, 0, len(g.Members))
	for _, m := range g.Members {
		gm := GroupMember{ID: m.MemberID, Assigned: map[Topic][]int32{}}
		if j, ok := m.Join.AsConsumer(); ok {
			gm.UserData = j.UserData
		}
		if as, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range as.Topics {
				gm.Assigned[Topic(t.Topic)] = append(gm.Assigned[Topic(t.Topic)], t.Partitions...)
			}
		}
		out = append(out, gm)
	}
	return out, nil
}

package topics_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sessionrec/sessionrec/topics"
)

// The processor's start-up: create the topics (idempotent), check them,
// and create the group's changelog with the input partition count.
func ExampleAdmin_Check() {
	// An in-process broker stands in for Kafka here.
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	ctx := context.Background()
	a, err := topics.NewAdmin(cluster.ListenAddrs())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()

	names := topics.DefaultNames()
	if err := a.Create(ctx, names, topics.TopicConfig{Partitions: 6}); err != nil {
		fmt.Println(err)
		return
	}
	layout, err := a.Check(ctx, names)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("input partitions:", layout.Partitions)
	fmt.Println("recommendations compacted:", layout.Topics[names.Recommendations].Compacted())
	if err := a.CreateChangelog(ctx, "sessionrec", layout.Partitions); err != nil {
		fmt.Println(err)
		return
	}

	// A later start with another input partition count would misplace
	// state: refused.
	err = a.CreateChangelog(ctx, "sessionrec", 4)
	fmt.Println(errors.Is(err, topics.ErrPartitionMismatch))
	fmt.Println(err)
	// Output:
	// input partitions: 6
	// recommendations compacted: true
	// true
	// topics: changelog sessionrec-state has 6 partitions, want 4, one per input partition: changelog partition i holds the state of input partition i; use a new consumer group, or recreate the changelog with 4 partitions
}

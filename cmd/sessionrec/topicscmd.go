package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/sessionrec/sessionrec/topics"
)

func runTopics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("topics", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		brokers     = fs.String("brokers", "localhost:9092", "Kafka bootstrap brokers, comma-separated")
		partitions  = fs.Int("partitions", 4, "partitions of clicks, purchases, recommendations and the dead-letter topic")
		replication = fs.Int("replication", 1, "replication factor (the changelog takes the broker's default.replication.factor)")
		group       = fs.String("group", "sessionrec", "consumer group whose changelog (<group>-state, compacted, with the clicks topic's partition count) to create or check")
		tf          topicFlags
		sec         securityFlags
	)
	tf.register(fs)
	sec.register(fs)
	if len(args) == 0 || (args[0] != "create" && args[0] != "check") {
		return errors.New("usage: sessionrec topics create|check [flags]")
	}
	action := args[0]
	if err := parseWithEnv(fs, args[1:]); err != nil {
		return err
	}
	adm, _, err := sec.admin(ctx, brokerList(*brokers))
	if err != nil {
		return err
	}
	defer adm.Close()
	names := tf.names()
	if action == "create" {
		if err := adm.Create(ctx, names, topics.TopicConfig{Partitions: int32(*partitions), ReplicationFactor: int16(*replication)}); err != nil {
			return err
		}
	}
	layout, err := adm.Check(ctx, names)
	if err != nil {
		return err
	}
	if action == "create" {
		if err := adm.CreateChangelog(ctx, *group, layout.Partitions); err != nil {
			return err
		}
	}
	changelog, err := adm.CheckChangelog(ctx, *group, layout.Partitions)
	if errors.Is(err, topics.ErrMissingTopic) {
		return fmt.Errorf("%w; \"sessionrec topics create --group %s\" creates it, as does \"sessionrec run --group %s\" when it starts", err, *group, *group)
	}
	if err != nil {
		return err
	}
	layout.Topics[topics.Changelog(*group)] = changelog
	for _, t := range slices.Sorted(func(yield func(topics.Topic) bool) {
		for t := range layout.Topics {
			if !yield(t) {
				return
			}
		}
	}) {
		info := layout.Topics[t]
		fmt.Fprintf(stdout, "%-20s partitions %d, replication %d, cleanup.policy %s\n", t, info.Partitions, info.ReplicationFactor, info.CleanupPolicy)
	}
	return nil
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sessionrec/sessionrec/topics"
)

// topics create makes the group's changelog beside the topics, and topics
// check refuses a changelog that is missing, has another partition count
// than clicks, or is not compacted.
func TestTopicsChangelog(t *testing.T) {
	for name, brokers := range testClusters(t) {
		t.Run(name, func(t *testing.T) { testTopicsChangelog(t, brokers) })
	}
}

func testTopicsChangelog(t *testing.T, brokers []string) {
	sfx := fmt.Sprintf("-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), rand.Uint32())
	names := topics.DefaultNames().WithSuffix(sfx)
	adm := rawAdmin(t, brokers)
	deleteTopics(t, adm, append(names.All(), topics.Changelog("g"+sfx), topics.Changelog("missing"+sfx),
		topics.Changelog("fewer"+sfx), topics.Changelog("delete"+sfx))...)
	topicsCmd := func(action, group string) (string, error) {
		t.Helper()
		args := append([]string{action, "--brokers", strings.Join(brokers, ","), "--partitions", "3",
			"--recommendations-topic", string(names.Recommendations), "--dlq-topic", string(names.DeadLetters), "--erasures-topic", string(names.Erasures)}, topicFlagsOf(names)...)
		if group != "" {
			args = append(args, "--group", group)
		}
		var out, errOut bytes.Buffer
		err := runTopics(t.Context(), args, &out, &errOut)
		require.Empty(t, errOut.String())
		return out.String(), err
	}
	changelogLine := func(group string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(string(topics.Changelog(group))) + ` +partitions 3, replication \d+, cleanup.policy compact$`)
	}

	// create makes the changelog with the clicks' partition count, and
	// lists it; check then passes and lists it too.
	out, err := topicsCmd("create", "g"+sfx)
	require.NoError(t, err)
	require.Regexp(t, changelogLine("g"+sfx), out)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), len(names.All())+1, "one line per topic and the changelog:\n%s", out)
	out, err = topicsCmd("check", "g"+sfx)
	require.NoError(t, err)
	require.Regexp(t, changelogLine("g"+sfx), out)
	// The group comes from SESSIONREC_GROUP as it does for run.
	t.Setenv("SESSIONREC_GROUP", "g"+sfx)
	out, err = topicsCmd("check", "")
	require.NoError(t, err)
	require.Regexp(t, changelogLine("g"+sfx), out)

	// check refuses a wrong changelog, and creates nothing.
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	createRaw(t, adm, topics.Changelog("fewer"+sfx), 2, compact)
	createRaw(t, adm, topics.Changelog("delete"+sfx), 3, nil)
	tests := []struct {
		group   string
		wantErr error
		holds   string
	}{
		{"missing" + sfx, topics.ErrMissingTopic, `"sessionrec topics create --group missing` + sfx + `" creates it`},
		{"fewer" + sfx, topics.ErrPartitionMismatch, "has 2 partitions, want 3"},
		{"delete" + sfx, topics.ErrNotCompacted, `cleanup.policy "delete", want compact`},
	}
	for _, tc := range tests {
		out, err := topicsCmd("check", tc.group)
		require.ErrorIs(t, err, tc.wantErr, "group %s", tc.group)
		require.ErrorContains(t, err, tc.holds)
		require.Empty(t, out)
	}
	_, err = topicsCmd("check", "missing"+sfx)
	require.ErrorIs(t, err, topics.ErrMissingTopic, "check created the changelog")
	// create too refuses a wrong changelog, and leaves it as it is.
	_, err = topicsCmd("create", "fewer"+sfx)
	require.ErrorIs(t, err, topics.ErrPartitionMismatch)
}

// rawAdmin returns a kadm client on brokers, closed when the test ends,
// to make and delete topics as an operator might, apart from the code
// under test.
func rawAdmin(t *testing.T, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// createRaw creates topic with partitions partitions and configs, and
// waits until a metadata request lists it.
func createRaw(t *testing.T, adm *kadm.Client, topic topics.Topic, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(t.Context(), partitions, 1, configs, string(topic))
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	require.Eventually(t, func() bool {
		d, err := adm.ListTopics(t.Context(), string(topic))
		return err == nil && d.Has(string(topic)) && d[string(topic)].Err == nil && len(d[string(topic)].Partitions) == int(partitions)
	}, 30*time.Second, 20*time.Millisecond, "%s listed", topic)
}

// deleteTopics deletes ts when the test ends: a kfake cluster goes away
// whole, a real one keeps what is not deleted.
func deleteTopics(t *testing.T, adm *kadm.Client, ts ...topics.Topic) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		names := make([]string, len(ts))
		for i, x := range ts {
			names[i] = string(x)
		}
		// Errors are the topics that were never created; nothing to clean.
		_, _ = adm.DeleteTopics(ctx, names...)
	})
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sessionrec/sessionrec/topics"
)

func TestProduceItems(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	defer adm.Close()
	require.NoError(t, adm.Create(t.Context(), topics.DefaultNames(), topics.TopicConfig{}))
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	addr := "--brokers=" + brokers[0]

	// A bad line fails the whole file, naming the line; nothing is sent.
	bad := write("bad.jsonl", `{"item_id":"a","name":"Cat food"}`+"\n"+`{"item_id":"b","price":-2}`+"\n")
	var out, errOut bytes.Buffer
	err = run(t.Context(), []string{"produce", "items", addr, bad}, &out, &errOut)
	require.ErrorContains(t, err, "bad.jsonl:2")
	require.ErrorContains(t, err, "price")

	good := write("good.jsonl", `{"item_id":"a","name":"Cat food","category":"pets.cat","brand":"Purr","price":3.5}`+"\n\n"+`{"item_id":"b"}`+"\n")
	require.NoError(t, run(t.Context(), []string{"produce", "items", addr, good}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "sent 2 items")
	require.NoError(t, run(t.Context(), []string{"produce", "items", addr, "--withdraw", "b"}, &out, &errOut), errOut.String())

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: string(topics.Items), Partition: 0, MaxWait: 500 * time.Millisecond})
	defer func() { require.NoError(t, r.Close()) }()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []kafka.Message
	for len(got) < 3 {
		m, err := r.ReadMessage(ctx)
		require.NoError(t, err)
		got = append(got, m)
	}
	it, err := topics.DecodeItem(got[0].Key, got[0].Value, topics.Limits{})
	require.NoError(t, err)
	require.Equal(t, topics.Item{ItemID: "a", Name: "Cat food", Category: "pets.cat", Brand: "Purr", Price: 3.5}, it)
	require.Equal(t, "b", string(got[1].Key))
	require.Equal(t, "b", string(got[2].Key))
	require.Nil(t, got[2].Value, "a tombstone")
}

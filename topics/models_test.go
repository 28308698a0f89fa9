package topics

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

func TestPublishModelInChunks(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, _ := uniqueNames(t, a)
		require.NoError(t, a.Create(t.Context(), names, TopicConfig{}))
		artefact := make([]byte, 2*ModelChunkSize+12345)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range artefact {
			artefact[i] = byte(r.Uint32())
		}
		m, err := PublishModel(t.Context(), brokers, names.Models, "m-1", artefact)
		require.NoError(t, err)
		require.Equal(t, 3, m.Chunks)

		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: string(names.Models), Partition: 0, MaxWait: 500 * time.Millisecond})
		defer func() { require.NoError(t, rd.Close()) }()
		chunks := map[int][]byte{}
		var manifest ModelManifest
		for manifest.Version == "" {
			msg, err := rd.ReadMessage(t.Context())
			require.NoError(t, err)
			require.LessOrEqual(t, len(msg.Value), ModelChunkSize)
			v, i, err := ParseModelKey(string(msg.Key))
			require.NoError(t, err)
			require.Equal(t, "m-1", v)
			if i >= 0 {
				chunks[i] = msg.Value
				continue
			}
			manifest, err = DecodeModelManifest(string(msg.Key), msg.Value)
			require.NoError(t, err)
		}
		got, err := manifest.Assemble(chunks)
		require.NoError(t, err)
		require.True(t, bytes.Equal(artefact, got))

		// A corrupt or missing chunk is refused.
		chunks[1] = append([]byte{}, chunks[1]...)
		chunks[1][7] ^= 1
		_, err = manifest.Assemble(chunks)
		require.ErrorContains(t, err, "checksum")
		delete(chunks, 2)
		_, err = manifest.Assemble(chunks)
		require.ErrorContains(t, err, "chunk 2 of 3 missing")
	})
}

func TestModelKeysAndManifest(t *testing.T) {
	v, i, err := ParseModelKey("m-7/12")
	require.NoError(t, err)
	require.Equal(t, "m-7", v)
	require.Equal(t, 12, i)
	v, i, err = ParseModelKey("m-7")
	require.NoError(t, err)
	require.Equal(t, "m-7", v)
	require.Equal(t, -1, i)
	for _, bad := range []string{"", "/1", "m/x", "m/-1"} {
		_, _, err := ParseModelKey(bad)
		require.Error(t, err, bad)
	}
	ok := `{"version":"m","chunks":1,"size":10,"sha256":"` + string(bytes.Repeat([]byte("ab"), 32)) + `","published_at":"2026-01-01T00:00:00Z"}`
	_, err = DecodeModelManifest("m", []byte(ok))
	require.NoError(t, err)
	for _, bad := range []struct{ key, value string }{
		{"other", ok},
		{"m", `{"version":"m","chunks":2,"size":10,"sha256":"` + string(bytes.Repeat([]byte("ab"), 32)) + `"}`},
		{"m", `{"version":"m","chunks":1,"size":10,"sha256":"xyz"}`},
		{"m", `{"version":"m","chunks":1,"size":10,"sha256":"` + string(bytes.Repeat([]byte("zz"), 32)) + `"}`},
		{"m", `{"version":"m","chunks":1,"size":10,"sha256":"` + string(bytes.Repeat([]byte("ab"), 32)) + `","extra":1}`},
		{"m", `not json`},
	} {
		_, err := DecodeModelManifest(bad.key, []byte(bad.value))
		require.Error(t, err, bad.value)
	}
}

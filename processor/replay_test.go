package processor

import (
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/topics"
)

// TestMergeOrder checks that the replay takes a partition's clicks and
// purchases in record-timestamp order, clicks first on a tie, whichever
// reader is ahead.
func TestMergeOrder(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	clicks := []kafka.Message{{Offset: 0, Time: at(1)}, {Offset: 1, Time: at(3)}, {Offset: 2, Time: at(3)}, {Offset: 3, Time: at(9)}}
	purchases := []kafka.Message{{Offset: 0, Time: at(0)}, {Offset: 1, Time: at(3)}, {Offset: 2, Time: at(4)}}
	feed := func(msgs []kafka.Message) <-chan kafka.Message {
		ch := make(chan kafka.Message, len(msgs))
		for _, m := range msgs {
			ch <- m
		}
		close(ch)
		return ch
	}
	inputs := []replayInput{{kind: topics.KindClick, ch: feed(clicks)}, {kind: topics.KindPurchase, ch: feed(purchases)}}
	var got []string
	for {
		in, err := nextReplayInput(t.Context(), inputs)
		require.NoError(t, err)
		if in == nil {
			break
		}
		got = append(got, fmt.Sprintf("%s@%d", in.kind, in.head.Offset))
		in.has = false
	}
	require.Equal(t, []string{"purchase@0", "click@0", "click@1", "click@2", "purchase@1", "purchase@2", "click@3"}, got)
}

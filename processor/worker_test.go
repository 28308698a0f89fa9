package processor

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A record past the next offset means the ones between were deleted
// before they were read: the input says so, and goes on from the record.
func TestInputReportsLostRecords(t *testing.T) {
	var lost [][2]int64
	in := &input{next: 5, lost: func(from, to int64) { lost = append(lost, [2]int64{from, to}) }}
	in.push(fetched{rec: Record{Offset: 5}})
	require.Empty(t, lost)
	in.push(fetched{rec: Record{Offset: 9}})
	require.Equal(t, [][2]int64{{6, 9}}, lost)
	require.Equal(t, int64(10), in.next)
	in.push(fetched{rec: Record{Offset: 7}}) // a replaced reader's late delivery: dropped
	require.Len(t, lost, 1)
	require.Len(t, in.queue, 2)
}

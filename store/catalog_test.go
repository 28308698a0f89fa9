package store

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

func TestCatalogCopy(t *testing.T) {
	fs := vfs.NewMem()
	db, err := Open("db", Options{FS: fs})
	require.NoError(t, err)
	_, err = db.ItemsOffset(0)
	require.True(t, errors.Is(err, ErrNotFound), "%v", err)

	b := db.NewCatalogBatch()
	require.NoError(t, b.PutItem("i1", []byte(`{"item_id":"i1"}`)))
	require.NoError(t, b.PutItem("i2", []byte(`{"item_id":"i2"}`)))
	require.NoError(t, b.SetOffset(0, 2))
	require.NoError(t, b.Commit())
	b = db.NewCatalogBatch()
	require.NoError(t, b.DeleteItem("i1"))
	require.NoError(t, b.PutItem("i3", []byte(`{"item_id":"i3"}`)))
	require.NoError(t, b.SetOffset(0, 4))
	require.NoError(t, b.Commit())
	// The catalogue keys do not mix with a partition's: a user of
	// partition 0 is not an item.
	ub := db.NewBatch(0)
	require.NoError(t, ub.PutUser("i9", &UserState{}))
	require.NoError(t, ub.Commit(false))
	require.NoError(t, db.Close())

	db, err = Open("db", Options{FS: fs})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	got := map[string]string{}
	require.NoError(t, db.Items(func(id string, v []byte) bool {
		got[id] = string(v)
		return true
	}))
	require.Equal(t, map[string]string{"i2": `{"item_id":"i2"}`, "i3": `{"item_id":"i3"}`}, got)
	o, err := db.ItemsOffset(0)
	require.NoError(t, err)
	require.Equal(t, int64(4), o)
}

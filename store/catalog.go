package store

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// The store keeps a copy of the catalogue (the items topic) so that a
// restarted instance has it at once and reads only the topic's tail: each
// item's record value as the topic holds it, and the next offset of each
// partition of the topic. The values are opaque here; the processor
// decodes them.

// Items calls fn for every stored item, in item ID order, until fn returns
// false. value is only valid during the call.
func (d *DB) Items(fn func(itemID string, value []byte) bool) (err error) {
	if err := d.Err(); err != nil {
		return err
	}
	defer d.recoverFatal(&err)
	lo := []byte{prefixItem}
	hi := []byte{prefixItem + 1}
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("store: iterate items: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		if !fn(string(it.Key()[1:]), it.Value()) {
			break
		}
	}
	return it.Close()
}

// ItemsOffset returns the next offset of a partition of the items topic,
// or ErrNotFound when the store has none.
func (d *DB) ItemsOffset(partition int32) (int64, error) {
	v, err := d.get(itemOffsetKey(partition))
	if err != nil {
		return 0, err
	}
	o, n := binary.Varint(v)
	if n <= 0 || n != len(v) {
		return 0, fmt.Errorf("store: items offset of partition %d: corrupt value %x", partition, v)
	}
	return o, nil
}

// CatalogBatch collects catalogue changes and the items-topic offset after
// them, committed together.
type CatalogBatch struct {
	d *DB
	b *pebble.Batch
}

// NewCatalogBatch starts a batch of catalogue changes.
func (d *DB) NewCatalogBatch() *CatalogBatch { return &CatalogBatch{d: d, b: d.db.NewBatch()} }

// PutItem stores an item's value.
func (b *CatalogBatch) PutItem(itemID string, value []byte) error {
	return b.b.Set(itemKey(itemID), value, nil)
}

// DeleteItem removes an item.
func (b *CatalogBatch) DeleteItem(itemID string) error { return b.b.Delete(itemKey(itemID), nil) }

// SetOffset records the next offset of a partition of the items topic.
func (b *CatalogBatch) SetOffset(partition int32, next int64) error {
	return b.b.Set(itemOffsetKey(partition), binary.AppendVarint(nil, next), nil)
}

// Commit writes the batch atomically (without waiting for fsync: a batch
// lost to a machine crash is read again from the topic) and releases it.
// After the store has failed it writes nothing and returns an error
// wrapping ErrFailed.
func (b *CatalogBatch) Commit() error {
	if err := b.d.commit(b.b, pebble.NoSync); err != nil {
		return fmt.Errorf("store: commit catalogue batch: %w", err)
	}
	return nil
}

// Abort discards the batch.
func (b *CatalogBatch) Abort() error { return b.b.Close() }

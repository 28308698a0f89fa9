package store

import (
	"encoding/binary"
	"fmt"
)

// The key layout. Every key starts with a one-byte prefix naming what it
// holds; the keys of a partition's data then carry the partition number as
// 4 big-endian bytes, so that all of a partition's keys of one kind are
// contiguous and a partition can be dropped with one range deletion.
//
//	'm' "schema"                                    -> schema version (uvarint)
//	'u' partition(4) userID                         -> UserState
//	'c' partition(4)                                -> Checkpoint
//	'e' partition(4) expiryMs(8) userID             -> empty: the expiry index
//	'i' itemID                                      -> catalogue item (the items topic's value)
//	'o' partition(4)                                -> next offset of the items topic's partition
//
// expiryMs is an event time in Unix milliseconds, stored big-endian with the
// sign bit flipped so that byte order is numeric order for negative times
// too.
const (
	prefixMeta       = 'm'
	prefixUser       = 'u'
	prefixCheckpoint = 'c'
	prefixExpiry     = 'e'
	prefixItem       = 'i'
	prefixItemOffset = 'o'
)

var schemaKey = []byte{prefixMeta, 's', 'c', 'h', 'e', 'm', 'a'}

// schemaVersion is the version of the key layout and value codecs. Open
// refuses a store written by another version.
const schemaVersion = 1

func partKey(prefix byte, partition int32, extra int) []byte {
	k := make([]byte, 5, 5+extra)
	k[0] = prefix
	binary.BigEndian.PutUint32(k[1:], uint32(partition))
	return k
}

func userKey(partition int32, userID string) []byte {
	return append(partKey(prefixUser, partition, len(userID)), userID...)
}

func checkpointKey(partition int32) []byte { return partKey(prefixCheckpoint, partition, 0) }

func expiryKey(partition int32, expiryMs int64, userID string) []byte {
	k := partKey(prefixExpiry, partition, 8+len(userID))
	k = binary.BigEndian.AppendUint64(k, uint64(expiryMs)^(1<<63))
	return append(k, userID...)
}

// partitionBounds returns the key range [lo, hi) of one kind of a partition's
// keys.
func partitionBounds(prefix byte, partition int32) (lo, hi []byte) {
	lo = partKey(prefix, partition, 0)
	hi = partKey(prefix, partition, 0)
	// partition+1 in the 4 bytes; partition is never MaxUint32, since
	// Kafka partitions are non-negative int32.
	binary.BigEndian.PutUint32(hi[1:], uint32(partition)+1)
	return lo, hi
}

// parseUserKey returns the user ID of a user key of the given partition.
func parseUserKey(k []byte, partition int32) (string, error) {
	if len(k) < 5 || k[0] != prefixUser || int32(binary.BigEndian.Uint32(k[1:])) != partition {
		return "", fmt.Errorf("store: %x is not a user key of partition %d", k, partition)
	}
	return string(k[5:]), nil
}

// parseExpiryKey returns the expiry time and user ID of an expiry key.
func parseExpiryKey(k []byte) (partition int32, expiryMs int64, userID string, err error) {
	if len(k) < 13 || k[0] != prefixExpiry {
		return 0, 0, "", fmt.Errorf("store: %x is not an expiry key", k)
	}
	return int32(binary.BigEndian.Uint32(k[1:])), int64(binary.BigEndian.Uint64(k[5:]) ^ (1 << 63)), string(k[13:]), nil
}

func itemKey(itemID string) []byte {
	k := make([]byte, 1, 1+len(itemID))
	k[0] = prefixItem
	return append(k, itemID...)
}

func itemOffsetKey(partition int32) []byte { return partKey(prefixItemOffset, partition, 0) }

package store

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walWatch is the store's file system: it fails the store at the first
// write or sync of a write-ahead log that fails.
//
// Pebble writes the log of a commit that does not sync in the background,
// and finds such an error only at a later commit, or while it rotates the
// log to a new file. In the second case it panics with its mutex released
// and a deferred unlock then ends the process (a Go runtime fatal error,
// which nothing can recover): a disk error would crash the process
// instead of failing the store. Failing the store at the write itself
// makes every later commit return ErrFailed before Pebble is asked to
// write, so the rotation is never reached but in a commit already under
// way at that moment; walFile.hold keeps that one from returning.
type walWatch struct {
	vfs.FS
	d *DB
}

func (w walWatch) watched(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return walFile{File: f, name: name, d: w.d, bad: new(atomic.Bool)}, nil
}

func (w walWatch) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := w.FS.Create(name, c)
	return w.watched(name, f, err)
}

func (w walWatch) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := w.FS.ReuseForWrite(oldname, newname, c)
	return w.watched(newname, f, err)
}

func (w walWatch) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := w.FS.OpenReadWrite(name, c, opts...)
	return w.watched(name, f, err)
}

// walFile is a write-ahead log file whose failed writes and syncs fail
// the store.
type walFile struct {
	vfs.File
	name string
	d    *DB
	bad  *atomic.Bool // a write or sync of the file failed
}

func (f walFile) failed(op string, err error) {
	if err != nil {
		f.bad.Store(true)
		f.d.fail("fatal", fmt.Errorf("store: %s of the write-ahead log %s: %w", op, f.name, err))
	}
}

// hold never returns when the file's write or sync has failed and the
// store is not being closed. Pebble's log writer makes no write or sync
// of its own after one failed, so such a call comes from closing the log:
// Pebble rotating it to a new file in a commit that was under way when the
// write failed (the syncing file it wraps the log in syncs a dirty log
// before it closes it). Were the sync or the close to return, the
// rotation would panic with its mutex released, which ends the process.
// So the commit's goroutine (DB.commit runs each on one of its own) stays
// blocked, its caller returns at the store's failure, and the process is
// about to exit; Close of the failed store then gives Pebble up after
// closeFailed. Once Close closes Pebble, with no commit inside it, the
// calls go through.
func (f walFile) hold() {
	if f.bad.Load() && !f.d.closing.Load() {
		select {}
	}
}

func (f walFile) Close() error {
	f.hold()
	return f.File.Close()
}

func (f walFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.failed("write", err)
	return n, err
}

func (f walFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	f.failed("write", err)
	return n, err
}

func (f walFile) Sync() error {
	f.hold()
	err := f.File.Sync()
	f.failed("sync", err)
	return err
}

func (f walFile) SyncData() error {
	f.hold()
	err := f.File.SyncData()
	f.failed("sync", err)
	return err
}

func (f walFile) SyncTo(length int64) (bool, error) {
	f.hold()
	full, err := f.File.SyncTo(length)
	f.failed("sync", err)
	return full, err
}

package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/meshcanary/canary"
)

// File is a Store that keeps each record in its own file in a directory,
// so that several processes on one machine (a driver and an operator's CLI,
// say) can share a rollout's state.
//
// A Save writes the record to a temporary file, syncs it, renames it over
// the record and syncs the directory, so a crash leaves either the old or
// the new record, never a torn one. Compare-and-swap across processes is
// guarded by an advisory lock (flock(2)) on a lock file beside the record;
// on systems without flock, File guards only the processes' own goroutines,
// which its documentation of [NewFile] on such systems says.
//
// A record's file starts with one header line holding the format and the
// revision, followed by the caller's bytes unchanged.
type File struct {
	dir string
	mu  sync.Mutex // orders this process's own Saves and Deletes
}

var _ Store = (*File)(nil)

const fileMagic = "meshcanary-store 1 "

// NewFile returns a File store keeping its records in dir, which it creates
// (mode 0700) when missing.
func NewFile(dir string) (*File, error) {
	if dir == "" {
		return nil, canary.Invalid("dir", dir, "must not be empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &File{dir: dir}, nil
}

// Dir is the directory the records are kept in.
func (f *File) Dir() string { return f.dir }

func (f *File) path(key string) string { return filepath.Join(f.dir, key+".rec") }

// Load implements Store.
func (f *File) Load(ctx context.Context, key string) ([]byte, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if err := ValidKey("key", key); err != nil {
		return nil, "", err
	}
	return f.read(key)
}

func (f *File) read(key string) ([]byte, string, error) {
	b, err := os.ReadFile(f.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", errNotFound(key)
	}
	if err != nil {
		return nil, "", fmt.Errorf("store: %w", err)
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 || !bytes.HasPrefix(b, []byte(fileMagic)) {
		return nil, "", fmt.Errorf("store: record %q: %w", key, errCorrupt)
	}
	v := string(b[len(fileMagic):nl])
	if _, err := strconv.ParseUint(v, 10, 64); err != nil || v == "0" {
		return nil, "", fmt.Errorf("store: record %q: %w", key, errCorrupt)
	}
	return b[nl+1:], v, nil
}

var errCorrupt = errors.New("not a record written by store.File (bad header)")

// Save implements Store.
func (f *File) Save(ctx context.Context, key string, data []byte, prev string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := ValidKey("key", key); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	unlock, err := lockFile(filepath.Join(f.dir, "."+key+".lock"))
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	defer unlock()
	_, cur, err := f.read(key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	if cur != prev {
		return "", errConflict(key, prev, cur)
	}
	n := uint64(0)
	if cur != "" {
		n, _ = strconv.ParseUint(cur, 10, 64)
	} else if last, err := os.ReadFile(f.lastPath(key)); err == nil {
		// The record was deleted: go on from its last revision, so that a
		// driver still holding that revision cannot overwrite the new one.
		n, _ = strconv.ParseUint(string(last), 10, 64)
	}
	v := strconv.FormatUint(n+1, 10)
	buf := make([]byte, 0, len(fileMagic)+len(v)+1+len(data))
	buf = append(buf, fileMagic...)
	buf = append(buf, v...)
	buf = append(buf, '\n')
	buf = append(buf, data...)
	if err := f.replace(key, buf); err != nil {
		return "", err
	}
	return v, nil
}

func (f *File) lastPath(key string) string { return filepath.Join(f.dir, "."+key+".last") }

// writeLast records, durably, the revision of a record about to be deleted.
func (f *File) writeLast(key, revision string) error {
	tmp, err := os.CreateTemp(f.dir, "."+key+".tmp-*")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	name := tmp.Name()
	_, werr := tmp.WriteString(revision)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(name, f.lastPath(key))
	}
	if werr != nil {
		os.Remove(name)
		return fmt.Errorf("store: deleting %q: %w", key, werr)
	}
	return syncDir(f.dir)
}

// replace writes b to key's file through a synced temporary file and a
// rename, then syncs the directory.
func (f *File) replace(key string, b []byte) error {
	tmp, err := os.CreateTemp(f.dir, "."+key+".tmp-*")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(b)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(name, f.path(key))
	}
	if werr != nil {
		os.Remove(name)
		return fmt.Errorf("store: saving %q: %w", key, werr)
	}
	return syncDir(f.dir)
}

// Delete implements Store.
func (f *File) Delete(ctx context.Context, key string, prev string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidKey("key", key); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	unlock, err := lockFile(filepath.Join(f.dir, "."+key+".lock"))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer unlock()
	_, cur, err := f.read(key)
	if err != nil {
		return err
	}
	if cur != prev {
		return errConflict(key, prev, cur)
	}
	// Remember the last revision before removing the record, so that a
	// record created anew never gets a revision given before.
	if err := f.writeLast(key, cur); err != nil {
		return err
	}
	if err := os.Remove(f.path(key)); err != nil {
		return fmt.Errorf("store: deleting %q: %w", key, err)
	}
	return syncDir(f.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("store: syncing %s: %w", dir, err)
	}
	return nil
}

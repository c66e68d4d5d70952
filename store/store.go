package store

import (
	"context"
	"strconv"
	"sync"

	"github.com/meshcanary/canary"
)

// Sentinel errors every Store wraps, for errors.Is.
var (
	// ErrNotFound: no record is stored under the key. Its code is
	// [canary.NotFound].
	ErrNotFound = canary.NewError(canary.NotFound, "store: not found")
	// ErrConflict: the record's revision is not the one the caller named;
	// someone else wrote (or deleted) it since it was read. Its code is
	// [canary.Conflict].
	ErrConflict = canary.NewError(canary.Conflict, "store: revision conflict")
)

// Store keeps records by key with compare-and-swap on a revision.
// Implementations are safe for concurrent use.
//
// A revision is an opaque non-empty string that changes at every Save; the
// empty revision means "no record".
type Store interface {
	// Load returns the record stored under key and its revision, or an
	// error wrapping ErrNotFound.
	Load(ctx context.Context, key string) (data []byte, revision string, err error)
	// Save stores data under key if the stored revision is prev ("" when
	// the caller expects no record) and returns the new revision. Otherwise
	// it stores nothing and returns an error wrapping ErrConflict.
	Save(ctx context.Context, key string, data []byte, prev string) (revision string, err error)
	// Delete removes the record under key if its revision is prev, and
	// returns an error wrapping ErrConflict otherwise (ErrNotFound when
	// there is no record).
	Delete(ctx context.Context, key string, prev string) error
}

// ValidKey reports, as a *[canary.FieldError] naming field, a key that no
// Store accepts: empty, longer than 253 bytes, or holding anything but
// lower-case letters, digits, '-' and '.' (the rules of a Kubernetes object
// name, so that a key is usable by every implementation).
func ValidKey(field, key string) error {
	if key == "" || len(key) > 253 {
		return canary.Invalid(field, key, "must be 1 to 253 characters")
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return canary.Invalid(field, key, "must hold only lower-case letters, digits, '-' and '.'")
		}
	}
	if key[0] == '-' || key[0] == '.' || key[len(key)-1] == '-' || key[len(key)-1] == '.' {
		return canary.Invalid(field, key, "must start and end with a letter or a digit")
	}
	return nil
}

// Memory is a Store in memory. The zero Memory is empty and ready to use.
type Memory struct {
	mu   sync.Mutex
	recs map[string]memRecord
	seq  uint64
}

type memRecord struct {
	data     []byte
	revision string
}

var _ Store = (*Memory)(nil)

// Load implements Store.
func (m *Memory) Load(ctx context.Context, key string) ([]byte, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if err := ValidKey("key", key); err != nil {
		return nil, "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[key]
	if !ok {
		return nil, "", errNotFound(key)
	}
	return append([]byte(nil), r.data...), r.revision, nil
}

// Save implements Store.
func (m *Memory) Save(ctx context.Context, key string, data []byte, prev string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := ValidKey("key", key); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.recs[key].revision; cur != prev {
		return "", errConflict(key, prev, cur)
	}
	if m.recs == nil {
		m.recs = make(map[string]memRecord)
	}
	m.seq++
	v := strconv.FormatUint(m.seq, 10)
	m.recs[key] = memRecord{data: append([]byte(nil), data...), revision: v}
	return v, nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string, prev string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidKey("key", key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[key]
	if !ok {
		return errNotFound(key)
	}
	if r.revision != prev {
		return errConflict(key, prev, r.revision)
	}
	delete(m.recs, key)
	return nil
}

func errNotFound(key string) error {
	return &keyError{key: key, err: ErrNotFound}
}

func errConflict(key, prev, cur string) error {
	return &keyError{key: key, err: ErrConflict, detail: "expected revision " + strconv.Quote(prev) + ", stored " + strconv.Quote(cur)}
}

type keyError struct {
	key    string
	err    error
	detail string
}

func (e *keyError) Error() string {
	s := e.err.Error() + ": " + strconv.Quote(e.key)
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s
}

func (e *keyError) Unwrap() error { return e.err }

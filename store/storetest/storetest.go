package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/store"
)

// DefaultLargeRecord is the size of the large record the suite stores when
// Harness.MaxSize is zero (a store without a limit of its own): 1 MiB, the
// size of the largest Kubernetes object, which a rollout's snapshot stays
// far below.
const DefaultLargeRecord = 1 << 20

// Harness tells the suite how to exercise one Store implementation.
type Harness struct {
	// New returns an empty Store. Required. It fails t itself on error.
	New func(ctx context.Context, t *testing.T) store.Store
	// Twin returns a second Store over the same records as s (another
	// process's handle on the same directory, the same namespace, …), so
	// that compare-and-swap is checked between handles too. Nil uses s.
	Twin func(ctx context.Context, t *testing.T, s store.Store) store.Store
	// MaxSize is the largest record the store accepts, in bytes; a record
	// one byte larger must be refused with a *[canary.FieldError] naming
	// "data" and nothing stored. Zero means the store has no limit of its
	// own; the suite then stores a record of DefaultLargeRecord bytes.
	MaxSize int
	// Corrupt overwrites the record under key, behind the store's back,
	// with something the store did not write (a person's edit by hand).
	// The suite then requires Load to fail with an error that is neither
	// ErrNotFound nor nil, and Save over it to store nothing. Nil skips
	// that test.
	Corrupt func(ctx context.Context, t *testing.T, s store.Store, key string)
	// Savers is the number of goroutines racing in the one-winner test;
	// zero means 8.
	Savers int
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("storetest: Harness.New is nil")
	}
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t.Cleanup(cancel)
		return c
	}
	twin := func(c context.Context, t *testing.T, s store.Store) store.Store {
		if h.Twin == nil {
			return s
		}
		return h.Twin(c, t, s)
	}
	t.Run("LoadMissingIsNotFound", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		b, v, err := s.Load(c, "missing")
		if !errors.Is(err, store.ErrNotFound) || b != nil || v != "" {
			t.Fatalf("Load of a missing key = %q, %q, %v; want nil, \"\", ErrNotFound", b, v, err)
		}
	})
	t.Run("SaveThenLoad", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		v := mustSave(c, t, s, "a", []byte(`{"phase":"progressing"}`), "")
		if v == "" {
			t.Fatal("Save returned the empty revision")
		}
		mustLoad(c, t, twin(c, t, s), "a", []byte(`{"phase":"progressing"}`), v)
	})
	t.Run("CreateOverExistingConflicts", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		v := mustSave(c, t, s, "a", []byte("one"), "")
		if _, err := twin(c, t, s).Save(c, "a", []byte("two"), ""); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Save expecting no record over an existing one: %v, want ErrConflict", err)
		}
		mustLoad(c, t, s, "a", []byte("one"), v)
	})
	t.Run("StaleSaveConflicts", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		v1 := mustSave(c, t, s, "a", []byte("one"), "")
		v2 := mustSave(c, t, twin(c, t, s), "a", []byte("two"), v1)
		if _, err := s.Save(c, "a", []byte("stale"), v1); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Save with a stale revision: %v, want ErrConflict", err)
		}
		mustLoad(c, t, s, "a", []byte("two"), v2)
	})
	t.Run("InventedRevisionConflicts", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		if _, err := s.Save(c, "a", []byte("x"), "12345"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Save naming a revision when no record exists: %v, want ErrConflict", err)
		}
		if _, _, err := s.Load(c, "a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the refused Save stored something: Load = %v", err)
		}
		v := mustSave(c, t, s, "a", []byte("one"), "")
		if _, err := s.Save(c, "a", []byte("x"), v+"0"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Save with a revision never given: %v, want ErrConflict", err)
		}
		mustLoad(c, t, s, "a", []byte("one"), v)
	})
	t.Run("EverySaveMakesANewRevision", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		seen := map[string]bool{}
		prev := ""
		for i := 0; i < 5; i++ {
			v := mustSave(c, t, s, "a", []byte("same bytes"), prev)
			if seen[v] {
				t.Fatalf("Save %d returned revision %q again", i, v)
			}
			seen[v], prev = true, v
		}
		if _, err := s.Save(c, "a", []byte("same bytes"), prev); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(c, "a", []byte("same bytes"), prev); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a Save of unchanged bytes did not move the revision: %v, want ErrConflict", err)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		v1 := mustSave(c, t, s, "a", []byte("one"), "")
		v2 := mustSave(c, t, s, "a", []byte("two"), v1)
		if err := s.Delete(c, "a", v1); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Delete with a stale revision: %v, want ErrConflict", err)
		}
		if err := s.Delete(c, "a", ""); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Delete with the empty revision: %v, want ErrConflict", err)
		}
		mustLoad(c, t, s, "a", []byte("two"), v2)
		if err := twin(c, t, s).Delete(c, "a", v2); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, _, err := s.Load(c, "a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Load after Delete: %v, want ErrNotFound", err)
		}
		if err := s.Delete(c, "a", v2); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Delete of a deleted record: %v, want ErrNotFound", err)
		}
		if _, err := s.Save(c, "a", []byte("stale"), v2); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Save over a deleted record with its old revision: %v, want ErrConflict", err)
		}
	})
	t.Run("RevisionNotReusedAfterDelete", func(t *testing.T) {
		// A driver that read revision v, then lost the record to a Delete
		// and a re-creation, must not overwrite the new record with v.
		c := ctx(t)
		s := h.New(c, t)
		old := mustSave(c, t, s, "a", []byte("old"), "")
		if err := s.Delete(c, "a", old); err != nil {
			t.Fatal(err)
		}
		cur := mustSave(c, t, s, "a", []byte("new"), "")
		if cur == old {
			t.Fatalf("the re-created record got revision %q again, the revision of the deleted one", cur)
		}
		if _, err := twin(c, t, s).Save(c, "a", []byte("stale"), old); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Save with the deleted record's revision: %v, want ErrConflict", err)
		}
		mustLoad(c, t, s, "a", []byte("new"), cur)
	})
	t.Run("OneWinnerAmongConcurrentSavers", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		base := mustSave(c, t, s, "a", []byte("base"), "")
		n := h.Savers
		if n <= 0 {
			n = 8
		}
		type result struct {
			data     []byte
			revision string
			err      error
		}
		res := make([]result, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			st := s
			if i%2 == 1 {
				st = twin(c, t, s)
			}
			data := fmt.Appendf(nil, "saver %d", i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v, err := st.Save(c, "a", data, base)
				res[i] = result{data, v, err}
			}()
		}
		close(start)
		wg.Wait()
		var winners []result
		for i, r := range res {
			switch {
			case r.err == nil:
				winners = append(winners, r)
			case !errors.Is(r.err, store.ErrConflict):
				t.Errorf("saver %d: %v, want nil or ErrConflict", i, r.err)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d savers of %d won, want exactly 1", len(winners), n)
		}
		mustLoad(c, t, s, "a", winners[0].data, winners[0].revision)
	})
	t.Run("KeysAreIndependent", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		va := mustSave(c, t, s, "a", []byte("A"), "")
		vb := mustSave(c, t, s, "b.2", []byte("B"), "")
		vb = mustSave(c, t, s, "b.2", []byte("B2"), vb)
		mustLoad(c, t, s, "a", []byte("A"), va)
		if err := s.Delete(c, "a", va); err != nil {
			t.Fatal(err)
		}
		mustLoad(c, t, s, "b.2", []byte("B2"), vb)
	})
	t.Run("InvalidKeyIsFieldError", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		long := string(bytes.Repeat([]byte("a"), 254))
		for _, key := range []string{"", "Upper", "a/b", "../etc", "-a", "a.", "a b", "é", long} {
			_, _, lerr := s.Load(c, key)
			_, serr := s.Save(c, key, []byte("x"), "")
			derr := s.Delete(c, key, "1")
			for op, err := range map[string]error{"Load": lerr, "Save": serr, "Delete": derr} {
				var fe *canary.FieldError
				if !errors.As(err, &fe) || fe.Field != "key" || !errors.Is(err, canary.ErrInvalid) {
					t.Errorf("%s(%q) = %v, want a *canary.FieldError naming key", op, key, err)
				}
			}
		}
		v := mustSave(c, t, s, "a", []byte("kept"), "")
		mustLoad(c, t, s, "a", []byte("kept"), v)
	})
	t.Run("CancelledContext", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		v := mustSave(c, t, s, "a", []byte("one"), "")
		dead, cancel := context.WithCancel(c)
		cancel()
		if _, _, err := s.Load(dead, "a"); !errors.Is(err, context.Canceled) {
			t.Errorf("Load with a cancelled context: %v, want context.Canceled", err)
		}
		if _, err := s.Save(dead, "a", []byte("two"), v); !errors.Is(err, context.Canceled) {
			t.Errorf("Save with a cancelled context: %v, want context.Canceled", err)
		}
		if _, err := s.Save(dead, "b", []byte("two"), ""); !errors.Is(err, context.Canceled) {
			t.Errorf("Save (create) with a cancelled context: %v, want context.Canceled", err)
		}
		if err := s.Delete(dead, "a", v); !errors.Is(err, context.Canceled) {
			t.Errorf("Delete with a cancelled context: %v, want context.Canceled", err)
		}
		mustLoad(c, t, s, "a", []byte("one"), v)
		if _, _, err := s.Load(c, "b"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a Save with a cancelled context stored a record: %v", err)
		}
	})
	t.Run("OpaqueBytes", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		all := make([]byte, 512)
		for i := range all {
			all[i] = byte(i)
		}
		cases := map[string][]byte{
			"binary":   all,
			"empty":    {},
			"newlines": []byte("\n\nmeshcanary-store 1 7\n{}\r\n"),
			"utf8":     []byte(`{"reason":"été – 5 % ✓"}`),
		}
		for name, data := range cases {
			key := "k-" + name
			in := bytes.Clone(data)
			v := mustSave(c, t, s, key, in, "")
			for i := range in {
				in[i] ^= 0xff // the store must not keep the caller's slice
			}
			mustLoad(c, t, twin(c, t, s), key, data, v)
		}
	})
	t.Run("LargeRecord", func(t *testing.T) {
		c := ctx(t)
		s := h.New(c, t)
		n := h.MaxSize
		if n <= 0 {
			n = DefaultLargeRecord
		}
		big := make([]byte, n)
		for i := range big {
			big[i] = byte(i*7 + i/251)
		}
		v := mustSave(c, t, s, "big", big, "")
		mustLoad(c, t, s, "big", big, v)
		if h.MaxSize <= 0 {
			return
		}
		over := append(bytes.Clone(big), 'x')
		_, err := s.Save(c, "big", over, v)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != "data" {
			t.Fatalf("Save of %d bytes (limit %d): %v, want a *canary.FieldError naming data", len(over), h.MaxSize, err)
		}
		if _, err := s.Save(c, "other", over, ""); !errors.As(err, &fe) {
			t.Fatalf("Save (create) of %d bytes: %v, want a *canary.FieldError", len(over), err)
		}
		mustLoad(c, t, s, "big", big, v)
		if _, _, err := s.Load(c, "other"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an over-size record was stored: %v", err)
		}
	})
	if h.Corrupt != nil {
		t.Run("CorruptRecordRefusedAndKept", func(t *testing.T) {
			c := ctx(t)
			s := h.New(c, t)
			v := mustSave(c, t, s, "a", []byte("good"), "")
			h.Corrupt(c, t, s, "a")
			_, _, err := s.Load(c, "a")
			if err == nil || errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Load of a record edited by hand: %v, want an error saying so", err)
			}
			if _, err := s.Save(c, "a", []byte("over"), v); err == nil {
				t.Fatal("Save over a record edited by hand succeeded with the revision from before the edit")
			}
			if _, err := s.Save(c, "a", []byte("over"), ""); err == nil {
				t.Fatal("Save expecting no record succeeded over a record edited by hand")
			}
			if _, _, err2 := s.Load(c, "a"); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("the edited record changed: Load now = %v, before %v", err2, err)
			}
		})
	}
}

func mustSave(ctx context.Context, t *testing.T, s store.Store, key string, data []byte, prev string) string {
	t.Helper()
	v, err := s.Save(ctx, key, data, prev)
	if err != nil {
		t.Fatalf("Save(%q, prev %q): %v", key, prev, err)
	}
	return v
}

func mustLoad(ctx context.Context, t *testing.T, s store.Store, key string, want []byte, wantRevision string) {
	t.Helper()
	b, v, err := s.Load(ctx, key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("Load(%q) = %d bytes %.40q…, want %d bytes %.40q…", key, len(b), b, len(want), want)
	}
	if v != wantRevision {
		t.Fatalf("Load(%q) revision = %q, want %q", key, v, wantRevision)
	}
}

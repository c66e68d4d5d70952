package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/store"
)

func stores(t *testing.T) map[string]store.Store {
	f, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]store.Store{"memory": new(store.Memory), "file": f}
}

func TestCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if _, _, err := s.Load(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Load of a missing key: %v, want ErrNotFound", err)
			}
			v1, err := s.Save(ctx, "a", []byte("one"), "")
			if err != nil || v1 == "" {
				t.Fatalf("first Save: %q, %v", v1, err)
			}
			if _, err := s.Save(ctx, "a", []byte("again"), ""); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("Save expecting no record over an existing one: %v, want ErrConflict", err)
			}
			v2, err := s.Save(ctx, "a", []byte("two"), v1)
			if err != nil || v2 == v1 {
				t.Fatalf("second Save: %q, %v (first %q)", v2, err, v1)
			}
			if _, err := s.Save(ctx, "a", []byte("stale"), v1); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("stale Save: %v, want ErrConflict", err)
			}
			b, v, err := s.Load(ctx, "a")
			if err != nil || string(b) != "two" || v != v2 {
				t.Fatalf("Load = %q, %q, %v; want two, %q", b, v, err, v2)
			}
			if err := s.Delete(ctx, "a", v1); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("stale Delete: %v, want ErrConflict", err)
			}
			if err := s.Delete(ctx, "a", v2); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "a", v2); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Delete twice: %v, want ErrNotFound", err)
			}
			if _, err := s.Save(ctx, "Bad/Key", nil, ""); !errors.Is(err, canary.ErrInvalid) {
				t.Fatalf("bad key: %v, want a FieldError", err)
			}
		})
	}
}

// Of many drivers racing to save over the same revision, exactly one wins.
func TestOneWinner(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			v0, err := s.Save(ctx, "r", []byte("0"), "")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for i := 0; i < 16; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Save(ctx, "r", []byte("x"), v0)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						wins++
					case !errors.Is(err, store.ErrConflict):
						t.Errorf("Save: %v", err)
					}
				}()
			}
			wg.Wait()
			if wins != 1 {
				t.Fatalf("%d Saves won over one revision, want 1", wins)
			}
		})
	}
}

// Two File stores over one directory (two processes) see each other's
// writes and are fenced by the revision.
func TestFileShared(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, _ := store.NewFile(dir)
	b, _ := store.NewFile(dir)
	v, err := a.Save(ctx, "k", []byte("from a"), "")
	if err != nil {
		t.Fatal(err)
	}
	got, vb, err := b.Load(ctx, "k")
	if err != nil || string(got) != "from a" || vb != v {
		t.Fatalf("b.Load = %q %q %v", got, vb, err)
	}
	if _, err := b.Save(ctx, "k", []byte("b"), vb); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Save(ctx, "k", []byte("a again"), v); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a's stale Save: %v, want ErrConflict", err)
	}
}

func TestFileCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	f, _ := store.NewFile(dir)
	if err := os.WriteFile(filepath.Join(dir, "k.rec"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Load(context.Background(), "k"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Load of a record edited by hand: %v, want a clear error", err)
	}
	if _, err := f.Save(context.Background(), "k", []byte("x"), ""); err == nil {
		t.Fatal("Save over a corrupt record succeeded; it must leave it untouched")
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, s := range stores(t) {
		if _, err := s.Save(ctx, "k", nil, ""); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Save with a canceled context: %v", name, err)
		}
	}
}

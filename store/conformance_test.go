package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(context.Context, *testing.T) store.Store { return new(store.Memory) },
	})
}

func TestFileConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(_ context.Context, t *testing.T) store.Store {
			f, err := store.NewFile(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
		// A second handle on the same directory, as another process has.
		Twin: func(_ context.Context, t *testing.T, s store.Store) store.Store {
			f, err := store.NewFile(s.(*store.File).Dir())
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
		Corrupt: func(_ context.Context, t *testing.T, s store.Store, key string) {
			p := filepath.Join(s.(*store.File).Dir(), key+".rec")
			if err := os.WriteFile(p, []byte("edited by hand\n{}"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	})
}

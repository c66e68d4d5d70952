package store_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshcanary/canary/store"
)

// Two drivers read the same revision; the second one's Save is refused.
func ExampleMemory() {
	ctx := context.Background()
	var s store.Memory
	v, _ := s.Save(ctx, "checkout", []byte(`{"phase":"progressing"}`), "")
	_, err := s.Save(ctx, "checkout", []byte(`{"phase":"rolling-back"}`), v)
	fmt.Println("first driver:", err)
	_, err = s.Save(ctx, "checkout", []byte(`{"phase":"succeeded"}`), v)
	fmt.Println("stale driver refused:", errors.Is(err, store.ErrConflict))
	// Output:
	// first driver: <nil>
	// stale driver refused: true
}

package hook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"github.com/meshcanary/canary/hook"
	"github.com/meshcanary/canary/workload"
)

// A confirm-promotion hook that answers 403 holds the promotion; 200
// lets it through.
func ExampleSet_Gate() {
	var open atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !open.Load() {
			http.Error(w, "release manager says not yet", http.StatusForbidden)
		}
	}))
	defer srv.Close()
	set, err := hook.New(hook.Config{Name: "checkout", Namespace: "shop", Checksum: "85d557f47b", Hooks: []hook.Hook{
		{Name: "promotion gate", Type: hook.ConfirmPromotion, URL: srv.URL},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := workload.GateRequest{Rollout: "checkout", Kind: workload.BeforePromotion, From: 50, To: 100}
	a, _ := set.Gate().Check(context.Background(), req)
	fmt.Println(a.Approved, a.Reason)
	open.Store(true)
	a, _ = set.Gate().Check(context.Background(), req)
	fmt.Println(a.Approved, a.Actor)
	// Output:
	// false hook promotion gate (confirm-promotion): hook: refused: answered 403: release manager says not yet
	// true webhook promotion gate
}

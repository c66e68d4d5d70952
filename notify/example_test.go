package notify_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/meshcanary/canary/notify"
	"github.com/meshcanary/canary/rollback"
)

// A Notifier wraps the rollout's sink; Run delivers in the background.
func ExampleNotifier() {
	got := make(chan string, 1)
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b[:60])
	}))
	defer slack.Close()
	n, err := notify.New(notify.Config{Destinations: []notify.Destination{notify.Slack{URL: slack.URL + "/services/T0/B0/x"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = n.Run(ctx) }()
	// The rollout calls Record as its audit sink; here by hand.
	_ = n.Record(ctx, rollback.Event{
		Seq: 1, Time: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), Rollout: "checkout",
		Kind: rollback.KindTransition, From: rollback.Pending, To: rollback.Progressing, WeightTo: 10,
		Reason: "rollout started",
	})
	fmt.Println(<-got)
	// Output:
	// {"blocks":[{"type":"header","text":{"type":"plain_text","tex
}

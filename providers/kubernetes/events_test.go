package kubernetes_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	ktesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

var target = &corev1.ObjectReference{Kind: "Rollout", APIVersion: "meshcanary.dev/v1alpha1",
	Namespace: "shop", Name: "checkout", UID: "5f0c1c2e-aaaa-bbbb-cccc-000000000001"}

var t0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

func listEvents(t *testing.T, c *fake.Clientset) []corev1.Event {
	t.Helper()
	l, err := c.CoreV1().Events("shop").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func TestEventsDescribeDecisions(t *testing.T) {
	c := fake.NewClientset()
	ev := kubernetes.NewEvents(c, kubernetes.EventsConfig{Clock: clocktesting.NewFakePassiveClock(t0)})
	sink := ev.Sink(target)
	ctx := context.Background()
	split := traffic.Weighted(20)
	events := []rollback.Event{
		{Seq: 1, Time: t0, Rollout: "checkout", Kind: rollback.KindTransition, From: rollback.Pending, To: rollback.Progressing, WeightTo: 5, Actor: "rollout", Reason: "started"},
		{Seq: 2, Time: t0, Rollout: "checkout", Kind: rollback.KindAction, Action: "set-split", Split: &split},
		{Seq: 3, Time: t0, Rollout: "checkout", Kind: rollback.KindAnalysis, WeightTo: 20, Failures: 2,
			Verdict: &analysis.Verdict{Outcome: analysis.Fail, Reason: "error-rate 4.1 % above 1 %"}},
		{Seq: 4, Time: t0, Rollout: "checkout", Kind: rollback.KindTransition, From: rollback.Progressing, To: rollback.RollingBack, WeightFrom: 20, Actor: "policy", Reason: "2 failed analyses"},
		{Seq: 5, Time: t0, Rollout: "checkout", Kind: rollback.KindFailure, Action: "scale-canary", Error: "deployment not found"},
	}
	for _, e := range events {
		if err := sink.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]corev1.Event{}
	for _, e := range listEvents(t, c) {
		got[e.Annotations[kubernetes.EventSeqAnnotation]] = e
	}
	want := []struct{ seq, typ, reason, msg string }{
		{"1", "Normal", "Progressing", "pending → progressing, canary 0 % → 5 % by rollout: started"},
		{"2", "Normal", "SetSplit", "set-split canary 20 %"},
		{"3", "Warning", "AnalysisFail", "analysis at canary 20 %: fail: error-rate 4.1 % above 1 % (failures 2)"},
		{"4", "Warning", "RollingBack", "progressing → rolling-back, canary 20 % → 0 % by policy: 2 failed analyses"},
		{"5", "Warning", "FailedScaleCanary", "scale-canary failed: deployment not found"},
	}
	for _, w := range want {
		e, ok := got[w.seq]
		if !ok {
			t.Fatalf("no Event for seq %s; got %v", w.seq, got)
		}
		if e.Type != w.typ || e.Reason != w.reason || e.Message != w.msg {
			t.Errorf("seq %s: %s %s %q, want %s %s %q", w.seq, e.Type, e.Reason, e.Message, w.typ, w.reason, w.msg)
		}
		if e.InvolvedObject != *target || e.Source.Component != "meshcanary" || e.Count != 1 || !e.LastTimestamp.Time.Equal(t0) {
			t.Errorf("seq %s: object %+v source %+v count %d at %v", w.seq, e.InvolvedObject, e.Source, e.Count, e.LastTimestamp)
		}
	}
}

// A rollout event offered again (after a crash between recording it and
// saving the state) is not recorded twice.
func TestEventsOnceBySeq(t *testing.T) {
	c := fake.NewClientset()
	ev := kubernetes.NewEvents(c, kubernetes.EventsConfig{Clock: clocktesting.NewFakePassiveClock(t0)})
	e := rollback.Event{Seq: 7, Time: t0, Rollout: "checkout", Kind: rollback.KindAction, Action: "set-split"}
	for range 3 {
		if err := ev.Record(context.Background(), target, e); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(listEvents(t, c)); n != 1 {
		t.Fatalf("%d Events for one rollout event offered three times, want 1", n)
	}
}

// The spam filter is client-go's: 25 Events per object and reason at once,
// then one every five minutes of the (fake) clock; other reasons keep
// their own budget.
func TestEventsRateLimited(t *testing.T) {
	c := fake.NewClientset()
	clk := clocktesting.NewFakeClock(t0)
	ev := kubernetes.NewEvents(c, kubernetes.EventsConfig{Clock: clk})
	ctx := context.Background()
	seq := uint64(0)
	verdict := func() {
		seq++
		if err := ev.Record(ctx, target, rollback.Event{Seq: seq, Time: t0, Rollout: "checkout", Kind: rollback.KindAnalysis,
			Verdict: &analysis.Verdict{Outcome: analysis.Inconclusive}}); err != nil {
			t.Fatal(err)
		}
	}
	for range 40 {
		verdict()
	}
	if n := len(listEvents(t, c)); n != 25 {
		t.Fatalf("%d Events after 40 at once, want the burst of 25", n)
	}
	if ev.RateLimited() != 15 {
		t.Fatalf("RateLimited = %d, want 15", ev.RateLimited())
	}
	seq++
	if err := ev.Record(ctx, target, rollback.Event{Seq: seq, Time: t0, Rollout: "checkout", Kind: rollback.KindTransition,
		From: rollback.Progressing, To: rollback.RollingBack}); err != nil {
		t.Fatal(err)
	}
	if n := len(listEvents(t, c)); n != 26 {
		t.Fatalf("the rollback was rate-limited with the verdicts: %d Events", n)
	}
	clk.Step(5*time.Minute + time.Second)
	verdict()
	verdict()
	if n := len(listEvents(t, c)); n != 27 {
		t.Fatalf("%d Events after five minutes, want one more (27)", n)
	}
}

func TestEventsErrors(t *testing.T) {
	c := fake.NewClientset()
	var answer error
	c.PrependReactor("create", "events", func(ktesting.Action) (bool, runtime.Object, error) {
		return answer != nil, nil, answer
	})
	ev := kubernetes.NewEvents(c, kubernetes.EventsConfig{})
	e := rollback.Event{Seq: 1, Time: t0, Rollout: "checkout", Kind: rollback.KindAction, Action: "set-split"}
	answer = apierrors.NewServiceUnavailable("etcd is slow")
	if err := ev.Record(context.Background(), target, e); !apierrors.IsServiceUnavailable(err) || !strings.Contains(err.Error(), "event 1 of rollout") {
		t.Fatalf("a transient error: %v, want it returned so that the event is offered again", err)
	}
	answer = apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", errors.New("RBAC"))
	e.Seq = 2
	if err := ev.Record(context.Background(), target, e); err != nil || ev.Dropped() != 1 {
		t.Fatalf("Forbidden: %v, dropped %d; want nil and 1", err, ev.Dropped())
	}
	if err := ev.Record(context.Background(), &corev1.ObjectReference{Name: "x"}, e); err == nil {
		t.Fatal("an object without kind and namespace was accepted")
	}
}

func TestEventsLongMessageCut(t *testing.T) {
	_, _, msg := kubernetes.Describe(rollback.Event{Kind: rollback.KindFailure, Action: "set-split", Error: strings.Repeat("é", 2000)})
	if len(msg) > 1024 || !strings.HasSuffix(msg, "…") || !strings.HasPrefix(msg, "set-split failed: é") {
		t.Fatalf("message of %d bytes: %.60q…", len(msg), msg)
	}
}

// On the real API server the Events are accepted as written and listed by
// involved object, as kubectl describe lists them.
func TestRealEvents(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	kc := env.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cm, err := kc.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "target"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj := &corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: ns, Name: cm.Name, UID: cm.UID}
	ev := kubernetes.NewEvents(kc, kubernetes.EventsConfig{})
	for seq := uint64(1); seq <= 3; seq++ {
		e := rollback.Event{Seq: seq, Time: time.Now().UTC(), Rollout: "checkout", Kind: rollback.KindTransition,
			From: rollback.Progressing, To: rollback.RolledBack, Reason: "error rate", Actor: "policy"}
		if err := ev.Record(ctx, obj, e); err != nil {
			t.Fatal(err)
		}
		if err := ev.Record(ctx, obj, e); err != nil { // offered again
			t.Fatal(err)
		}
	}
	l, err := kc.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=target"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 3 || ev.Dropped() != 0 {
		t.Fatalf("%d Events (dropped %d), want 3", len(l.Items), ev.Dropped())
	}
	for _, e := range l.Items {
		if e.Reason != "RolledBack" || e.Type != "Warning" || e.Message != "progressing → rolled-back by policy: error rate" {
			t.Fatalf("Event = %s %s %q", e.Type, e.Reason, e.Message)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/spec"
	canarystore "github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/trigger"
)

// alarmFake is a local CloudWatch answering DescribeAlarms in the AWS
// SDK's default protocol (Smithy RPC v2 CBOR: POST
// /service/GraniteServiceVersion20100801/operation/DescribeAlarms), the
// same fake providers/cloudwatch's alarm tests use (alarm_test.go there),
// cut to what canaryctl needs: alarms by name, one page. The real AWS SDK
// client reaches it through AWS_ENDPOINT_URL_CLOUDWATCH, on loopback.
type alarmFake struct {
	*httptest.Server
	mu     sync.Mutex
	alarms map[string]fakeAlarm
	calls  int
}

type fakeAlarm struct {
	AlarmName                  string
	AlarmArn                   string
	StateValue                 string
	StateReason                string
	StateUpdatedTimestamp      cborEpoch
	StateTransitionedTimestamp cborEpoch
}

// cborEpoch is a timestamp as Smithy RPC v2 CBOR writes one: tag 1 and
// the seconds since 1970 as a float64.
type cborEpoch struct{ time.Time }

func (e cborEpoch) MarshalCBOR() ([]byte, error) {
	b := []byte{0xc1, 0xfb}
	return binary.BigEndian.AppendUint64(b, math.Float64bits(float64(e.UnixMilli())/1000)), nil
}

func newAlarmFake(t *testing.T) *alarmFake {
	f := &alarmFake{alarms: map[string]fakeAlarm{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *alarmFake) set(name, state string, since time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alarms[name] = fakeAlarm{AlarmName: name, AlarmArn: "arn:aws:cloudwatch:eu-west-2:111122223333:alarm:" + name,
		StateValue: state, StateReason: "Threshold Crossed: 1 datapoint [0.12] was greater than the threshold (0.05).",
		StateUpdatedTimestamp: cborEpoch{since}, StateTransitionedTimestamp: cborEpoch{since}}
}

func (f *alarmFake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *alarmFake) reply(w http.ResponseWriter, status int, v any) {
	b, err := cbor.Marshal(v)
	if err != nil {
		status, b = 500, nil
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (f *alarmFake) serve(w http.ResponseWriter, r *http.Request) {
	const path = "/service/GraniteServiceVersion20100801/operation/DescribeAlarms"
	if r.Method != http.MethodPost || r.URL.Path != path || r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		f.reply(w, 400, map[string]string{"__type": "UnknownOperationException", "message": r.URL.Path})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
		f.reply(w, 403, map[string]string{"__type": "MissingAuthenticationToken", "message": "not signed"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in struct{ AlarmNames []string }
	if err := cbor.Unmarshal(body, &in); err != nil {
		f.reply(w, 400, map[string]string{"__type": "SerializationException", "message": err.Error()})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	out := struct{ MetricAlarms, CompositeAlarms []fakeAlarm }{[]fakeAlarm{}, []fakeAlarm{}}
	for _, n := range in.AlarmNames {
		if a, ok := f.alarms[n]; ok {
			out.MetricAlarms = append(out.MetricAlarms, a)
		}
	}
	f.reply(w, 200, out)
}

// awsEnv points the AWS SDK's default configuration at the fake, with
// test credentials and nothing read from the machine's own AWS files.
func awsEnv(t *testing.T, endpoint string) []string {
	env := []string{
		"AWS_ENDPOINT_URL_CLOUDWATCH=" + endpoint,
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLECANARYCTL", "AWS_SECRET_ACCESS_KEY=canaryctl-test-secret",
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=", "AWS_DEFAULT_REGION=", "AWS_PROFILE=",
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return env
}

// writeAheadRouter checks, when the rollout sends everything to stable,
// that the decision to roll back was in the store before: the rollout
// record's snapshot says rolling back and the signal's ledger holds it.
type writeAheadRouter struct {
	*fake.Router
	st      rolloutStore
	name    string
	checked int
	err     error
}

func (r *writeAheadRouter) SetSplit(ctx context.Context, s traffic.Split) error {
	if s == traffic.AllStable() && r.checked == 0 {
		r.checked++
		rec, _, err := loadRolloutRecord(ctx, r.st, r.name)
		var state rollback.State
		if err == nil {
			err = json.Unmarshal(rec.Snapshot, &state)
		}
		ledger, _, lerr := r.st.Load(ctx, trigger.Key(r.name))
		switch {
		case err != nil || lerr != nil:
			r.err = errors.Join(err, lerr)
		case state.Phase != rollback.RollingBack:
			r.err = errors.New("the router was sent to stable before the store said rolling back: " + state.Phase.String())
		case !bytes.Contains(ledger, []byte("cloudwatch:")):
			r.err = errors.New("the router was sent to stable before the signal was in the ledger: " + string(ledger))
		}
	}
	return r.Router.SetSplit(ctx, s)
}

// TestRunAlarmRollsBack: canaryctl run's watch polls the rollout file's
// CloudWatch alarms at the plan's interval on the run's clock (the times
// here are inputs, no wall clock), and an alarm in ALARM for its time
// rolls the rollout back once, through the trigger's Applier: claimed in
// the store's ledger and saved as rolling back before the router is
// sent to stable, with the alarm as the actor in the audit trail.
func TestRunAlarmRollsBack(t *testing.T) {
	cw := newAlarmFake(t)
	awsEnv(t, cw.URL)
	ctx := context.Background()
	fs, err := canarystore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := rolloutStore{Store: fs, where: "test"}
	router := &writeAheadRouter{Router: fake.NewRouter(), st: st, name: "cart"}
	cfg := rollback.Config{Name: "cart", Router: router,
		Plan: rollback.Plan{Stages: rollback.Weights(20, 50), Interval: 10 * time.Second}}
	var out bytes.Buffer
	show := &plainView{w: &out}
	sigs := &spec.Signals{Alarms: &spec.Alarms{Names: []string{"cart-5xx"}, For: spec.Duration(30 * time.Second), Region: "eu-west-2"}}
	w, err := newWatch(ctx, sigs, "cart", cfg.Plan.Interval, nil, show, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDriver(ctx, st, nil, cfg, show, "")
	if err != nil {
		t.Fatal(err)
	}
	w.attach(st, d.r)
	d.watch = w

	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	cw.set("cart-5xx", "OK", t0.Add(-time.Hour))
	if s, err := d.step(ctx, t0); err != nil || s.Split.Canary != 20 {
		t.Fatalf("first step: %+v %v", s, err)
	}
	poll := func(at time.Duration) rollback.Status {
		t.Helper()
		now := t0.Add(at)
		if err := d.watch.poll(ctx, now, d.r.Status(now)); err != nil {
			t.Fatalf("poll at %s: %v", at, err)
		}
		return d.r.Status(now)
	}
	if s := poll(0); s.Phase != rollback.Progressing || cw.count() != 1 {
		t.Fatalf("alarm OK: %v, %d calls", s.Phase, cw.count())
	}
	cw.set("cart-5xx", "ALARM", t0.Add(5*time.Second))
	if s := poll(6 * time.Second); s.Phase != rollback.Progressing || cw.count() != 1 {
		t.Fatalf("before the interval: %v, %d calls (want none made)", s.Phase, cw.count())
	}
	if s := poll(10 * time.Second); s.Phase != rollback.Progressing || cw.count() != 2 {
		t.Fatalf("5 s in ALARM of the 30 s: %v, %d calls", s.Phase, cw.count())
	}
	if s := poll(40 * time.Second); s.Phase != rollback.RollingBack && s.Phase != rollback.RolledBack {
		t.Fatalf("35 s in ALARM: %v\n%s", s.Phase, out.String())
	}
	if router.checked != 1 || router.err != nil {
		t.Fatalf("write-ahead: checked %d: %v", router.checked, router.err)
	}
	if got, _ := router.Split(ctx); got != traffic.AllStable() {
		t.Fatalf("the router holds %v", got)
	}
	// Finish the rollback, then poll on: the alarm still in ALARM acts
	// no more (the rollout is final, and the ledger holds the signal).
	for i := 0; i < 5 && !d.r.Status(t0.Add(time.Minute)).Phase.Final(); i++ {
		if _, err := d.step(ctx, t0.Add(time.Minute+time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	poll(2 * time.Minute)
	if err := d.save(ctx, t0.Add(2*time.Minute), true); err != nil {
		t.Fatal(err)
	}
	// A second watch on the same store (a resumed run) does not apply the
	// same alarm again.
	w2, err := newWatch(ctx, sigs, "cart", cfg.Plan.Interval, nil, show, nil)
	if err != nil {
		t.Fatal(err)
	}
	w2.attach(st, d.r)
	if out, err := w2.applier.Apply(ctx, t0.Add(3*time.Minute), trigger.Signal{
		ID:      "cloudwatch:arn:aws:cloudwatch:eu-west-2:111122223333:alarm:cart-5xx@" + t0.Add(5*time.Second).Format(time.RFC3339Nano),
		Rollout: "cart", Action: trigger.RollBack, Actor: "test"}); err != nil || !out.Duplicate {
		t.Fatalf("the signal applied again: %+v %v", out, err)
	}

	b, _, err := st.Load(ctx, auditKey("cart"))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := parseEvents(b)
	if err != nil {
		t.Fatal(err)
	}
	var aborts []rollback.Event
	for _, e := range evs {
		if e.Kind == rollback.KindManual {
			aborts = append(aborts, e)
		}
	}
	if len(aborts) != 1 || aborts[0].Actor != "cloudwatch alarm cart-5xx" || !strings.Contains(aborts[0].Reason, "Threshold Crossed") ||
		!strings.Contains(aborts[0].Reason, "in ALARM since 07/12/2026 10:00:05 GMT") {
		t.Fatalf("audit trail aborts: %+v", aborts)
	}
	if !strings.Contains(out.String(), "CloudWatch alarm cart-5xx in ALARM since") {
		t.Errorf("run did not say why it rolls back:\n%s", out.String())
	}
}

// TestRunAlarmMissing: an alarm the file names that does not exist rolls
// nothing back and is said once, not at every poll.
func TestRunAlarmMissing(t *testing.T) {
	cw := newAlarmFake(t)
	awsEnv(t, cw.URL)
	ctx := context.Background()
	fs, err := canarystore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := rolloutStore{Store: fs, where: "test"}
	cfg := rollback.Config{Name: "cart", Router: fake.NewRouter(),
		Plan: rollback.Plan{Stages: rollback.Weights(20, 50), Interval: 10 * time.Second}}
	var out bytes.Buffer
	show := &plainView{w: &out}
	w, err := newWatch(ctx, &spec.Signals{Alarms: &spec.Alarms{Names: []string{"cart-5xx"}, Region: "eu-west-2"}}, "cart", cfg.Plan.Interval, nil, show, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDriver(ctx, st, nil, cfg, show, "")
	if err != nil {
		t.Fatal(err)
	}
	w.attach(st, d.r)
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	if _, err := d.step(ctx, t0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		now := t0.Add(time.Duration(i) * 10 * time.Second)
		if err := w.poll(ctx, now, d.r.Status(now)); err != nil {
			t.Fatal(err)
		}
	}
	if s := d.r.Status(t0.Add(time.Minute)); s.Phase != rollback.Progressing || cw.count() != 3 {
		t.Fatalf("%v, %d calls", s.Phase, cw.count())
	}
	if n := strings.Count(out.String(), `alarm not found: "cart-5xx"`); n != 1 {
		t.Fatalf("the missing alarm said %d times:\n%s", n, out.String())
	}
}

// TestStaleLedgerRefused: a signal ledger left without its rollout record
// (by an archive of an older canaryctl, which did not move it) is not
// taken up by a new rollout of the name: it could hold, as applied, the
// very alarm that should roll the new one back.
func TestStaleLedgerRefused(t *testing.T) {
	ctx := context.Background()
	fs, err := canarystore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := rolloutStore{Store: fs, where: "test"}
	if _, err := st.Save(ctx, trigger.Key("cart"), []byte(`{"signals":[]}`), ""); err != nil {
		t.Fatal(err)
	}
	cfg := rollback.Config{Name: "cart", Router: fake.NewRouter(),
		Plan: rollback.Plan{Stages: rollback.Weights(20, 50), Interval: time.Second}}
	_, err = newDriver(ctx, st, nil, cfg, &plainView{w: io.Discard}, "")
	if exitCode(err) != exitFinished || !strings.Contains(fmt.Sprint(err), "cart.signals") {
		t.Fatalf("newDriver: %v", err)
	}
}

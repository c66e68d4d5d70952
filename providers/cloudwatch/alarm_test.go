package cloudwatch_test

// A local CloudWatch answering DescribeAlarms and ListTagsForResource in
// the SDK's default protocol (Smithy RPC v2 CBOR: POST
// /service/GraniteServiceVersion20100801/operation/<Operation>), with the
// shapes of the API reference
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html,
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_ListTagsForResource.html),
// encoded with github.com/fxamacker/cbor, not the SDK's codec.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/fxamacker/cbor/v2"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/cloudwatch"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/trigger"
)

const alarmOps = "/service/GraniteServiceVersion20100801/operation/"

type alarmRecord struct {
	AlarmName                  string
	AlarmArn                   string
	StateValue                 string
	StateReason                string
	StateUpdatedTimestamp      epoch
	StateTransitionedTimestamp epoch
}

type describeAlarmsIn struct {
	AlarmNames []string
	AlarmTypes []string
	NextToken  *string
}

type describeAlarmsOut struct {
	MetricAlarms    []alarmRecord
	CompositeAlarms []alarmRecord
	NextToken       *string `cbor:",omitempty"`
}

type tagRecord struct{ Key, Value string }

type alarmServer struct {
	*httptest.Server
	mu       sync.Mutex
	alarms   []alarmRecord
	tags     map[string][]tagRecord
	throttle int // answer this many requests with ThrottlingException
	calls    map[string]int
}

func newAlarmServer(t *testing.T) *alarmServer {
	s := &alarmServer{tags: map[string][]tagRecord{}, calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *alarmServer) set(name, state string, since time.Time, tags ...tagRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := "arn:aws:cloudwatch:eu-west-2:111122223333:alarm:" + name
	for i, a := range s.alarms {
		if a.AlarmName == name {
			s.alarms = append(s.alarms[:i], s.alarms[i+1:]...)
			break
		}
	}
	s.alarms = append(s.alarms, alarmRecord{AlarmName: name, AlarmArn: arn, StateValue: state,
		StateReason:           "Threshold Crossed: 1 datapoint [0.12] was greater than the threshold (0.05).",
		StateUpdatedTimestamp: epoch{since}, StateTransitionedTimestamp: epoch{since}})
	if tags != nil {
		s.tags[arn] = tags
	}
}

func (s *alarmServer) reply(w http.ResponseWriter, status int, v any) {
	b, err := cbor.Marshal(v)
	if err != nil {
		status, b = 500, nil
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *alarmServer) serve(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.URL.Path, alarmOps)
	if r.Method != http.MethodPost || !ok || r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		s.reply(w, 400, map[string]string{"__type": "UnknownOperationException", "message": r.URL.Path})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
		s.reply(w, 403, map[string]string{"__type": "MissingAuthenticationToken", "message": "not signed"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	if s.throttle > 0 {
		s.throttle--
		w.Header().Set("X-Amzn-Query-Error", "Throttling;Sender")
		s.reply(w, 400, map[string]string{"__type": "ThrottlingException", "message": "Rate exceeded"})
		return
	}
	switch op {
	case "DescribeAlarms":
		var in describeAlarmsIn
		if err := cbor.Unmarshal(body, &in); err != nil {
			s.reply(w, 400, map[string]string{"__type": "SerializationException", "message": err.Error()})
			return
		}
		// One alarm a page, to exercise NextToken.
		var match []alarmRecord
		for _, a := range s.alarms {
			if in.AlarmNames == nil || contains(in.AlarmNames, a.AlarmName) {
				match = append(match, a)
			}
		}
		start := 0
		if in.NextToken != nil {
			for i, a := range match {
				if a.AlarmName == *in.NextToken {
					start = i
				}
			}
		}
		out := describeAlarmsOut{MetricAlarms: []alarmRecord{}, CompositeAlarms: []alarmRecord{}}
		if start < len(match) {
			out.MetricAlarms = append(out.MetricAlarms, match[start])
			if start+1 < len(match) {
				out.NextToken = aws.String(match[start+1].AlarmName)
			}
		}
		s.reply(w, 200, out)
	case "ListTagsForResource":
		var in struct{ ResourceARN string }
		_ = cbor.Unmarshal(body, &in)
		tags, ok := s.tags[in.ResourceARN]
		if !ok {
			tags = []tagRecord{}
		}
		s.reply(w, 200, map[string]any{"Tags": tags})
	default:
		s.reply(w, 400, map[string]string{"__type": "UnknownOperationException", "message": op})
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func newAlarms(t *testing.T, s *alarmServer, c cloudwatch.AlarmsConfig) *cloudwatch.Alarms {
	t.Helper()
	c.AWS = &aws.Config{
		Region:       "eu-west-2",
		Credentials:  credentials.NewStaticCredentialsProvider(testKeyID, testSecret, testToken),
		BaseEndpoint: aws.String(s.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 4
				o.Backoff = backoff(time.Millisecond)
			})
		},
	}
	a, err := cloudwatch.NewAlarms(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var alarmNow = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func TestAlarmFiringAfterItsTime(t *testing.T) {
	s := newAlarmServer(t)
	s.set("checkout-5xx", "ALARM", alarmNow.Add(-59*time.Second))
	s.set("checkout-latency", "OK", alarmNow.Add(-time.Hour))
	a := newAlarms(t, s, cloudwatch.AlarmsConfig{Names: []string{"checkout-5xx", "checkout-latency"}})
	ctx := context.Background()
	got, err := a.Firing(ctx, alarmNow)
	if err != nil || len(got) != 0 {
		t.Fatalf("59 s in ALARM: %v, %v", got, err)
	}
	got, err = a.Firing(ctx, alarmNow.Add(time.Second))
	if err != nil || len(got) != 1 || got[0].Name != "checkout-5xx" || !got[0].Since.Equal(alarmNow.Add(-59*time.Second)) {
		t.Fatalf("60 s in ALARM: %+v, %v", got, err)
	}
	if s.calls["DescribeAlarms"] != 4 { // two pages each time
		t.Fatalf("%d DescribeAlarms calls", s.calls["DescribeAlarms"])
	}
}

func TestAlarmByTag(t *testing.T) {
	s := newAlarmServer(t)
	s.set("a", "ALARM", alarmNow.Add(-2*time.Minute), tagRecord{"rollout", "checkout"}, tagRecord{"team", "pay"})
	s.set("b", "ALARM", alarmNow.Add(-2*time.Minute), tagRecord{"rollout", "search"})
	s.set("c", "INSUFFICIENT_DATA", alarmNow.Add(-2*time.Minute), tagRecord{"rollout", "checkout"})
	a := newAlarms(t, s, cloudwatch.AlarmsConfig{Tags: map[string]string{"rollout": "checkout"}})
	got, err := a.Firing(context.Background(), alarmNow)
	if err != nil || len(got) != 1 || got[0].Name != "a" {
		t.Fatalf("%+v, %v", got, err)
	}
	// Tags are cached for TagsTTL.
	tagsCalls := s.calls["ListTagsForResource"]
	if _, err := a.Firing(context.Background(), alarmNow.Add(time.Minute)); err != nil || s.calls["ListTagsForResource"] != tagsCalls {
		t.Fatalf("tags read again within the TTL: %v", err)
	}
	b := newAlarms(t, s, cloudwatch.AlarmsConfig{Tags: map[string]string{"rollout": "nothing"}})
	if _, err := b.Firing(context.Background(), alarmNow); !errors.Is(err, cloudwatch.ErrAlarmMissing) {
		t.Fatalf("no alarm with the tags: %v", err)
	}
}

func TestAlarmMissingAndThrottled(t *testing.T) {
	s := newAlarmServer(t)
	s.set("checkout-5xx", "ALARM", alarmNow.Add(-time.Hour))
	a := newAlarms(t, s, cloudwatch.AlarmsConfig{Names: []string{"checkout-5xx", "chekout-typo"}})
	got, err := a.Firing(context.Background(), alarmNow)
	if !errors.Is(err, cloudwatch.ErrAlarmMissing) || !strings.Contains(err.Error(), "chekout-typo") || len(got) != 1 {
		t.Fatalf("%+v, %v", got, err)
	}
	// Throttled twice: retried.
	s.mu.Lock()
	s.throttle = 2
	s.mu.Unlock()
	a = newAlarms(t, s, cloudwatch.AlarmsConfig{Names: []string{"checkout-5xx"}})
	if got, err := a.Firing(context.Background(), alarmNow); err != nil || len(got) != 1 {
		t.Fatalf("after throttling: %+v, %v", got, err)
	}
	// Throttled beyond the retries: an error, no alarm, no secret.
	s.mu.Lock()
	s.throttle = 100
	s.mu.Unlock()
	got, err = a.Firing(context.Background(), alarmNow)
	if err == nil || len(got) != 0 || !strings.Contains(err.Error(), "Throttling") {
		t.Fatalf("throttled: %+v, %v", got, err)
	}
	for _, secret := range []string{testSecret, testToken} {
		if strings.Contains(err.Error(), secret) {
			t.Fatal("a credential leaked")
		}
	}
}

func TestAlarmRollsBackOnce(t *testing.T) {
	testAlarmRollsBackOnce(t, nil, "in ALARM since 28/11/2026 09:58:30 GMT")
}

// The time in the reason is in AlarmsConfig.Location.
func TestAlarmReasonInLocation(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	testAlarmRollsBackOnce(t, tokyo, "in ALARM since 28/11/2026 18:58:30 JST")
}

func testAlarmRollsBackOnce(t *testing.T, loc *time.Location, wantSince string) {
	s := newAlarmServer(t)
	since := alarmNow.Add(-90 * time.Second)
	s.set("checkout-5xx", "ALARM", since)
	a := newAlarms(t, s, cloudwatch.AlarmsConfig{Names: []string{"checkout-5xx"}, Location: loc})

	router := fake.NewRouter()
	p := fake.NewProvider(router)
	tmpl := metrics.MustParse(metrics.PromQL, "error-rate", `errors{version="{{version}}"}`)
	for _, v := range []string{"v1", "v2"} {
		q, _ := tmpl.Render(metrics.Vars{Version: v, Window: time.Minute})
		p.Script(q, fake.Constant(0.001, 1000))
	}
	var events []rollback.Event
	r, err := rollback.New(rollback.Config{
		Name:     "checkout",
		Plan:     rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute},
		Target:   rollback.Target{Stable: rollback.Workload{Version: "v1"}, Canary: rollback.Workload{Version: "v2"}},
		Metrics:  []rollback.Metric{{Name: "error-rate", Provider: p, Query: tmpl}},
		Analyzer: analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}},
		Router:   router,
		Sink: rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
			events = append(events, e)
			return nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Step(ctx, alarmNow.Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ap := &trigger.Applier{Store: new(store.Memory), Targets: trigger.Map{"checkout": r}}
	for i := 0; i < 3; i++ {
		acted, err := a.Poll(ctx, alarmNow.Add(time.Duration(i)*time.Minute), ap, "checkout")
		if err != nil || (i == 0 && len(acted) != 1) {
			t.Fatalf("poll %d: %v, %v", i, acted, err)
		}
		if i > 0 && len(acted) != 0 {
			t.Fatalf("poll %d acted again: %v", i, acted)
		}
	}
	if st := r.Status(alarmNow); st.Phase != rollback.RolledBack || router.CanaryWeight() != 0 {
		t.Fatalf("phase %v, canary %d %%", st.Phase, router.CanaryWeight())
	}
	var aborts []rollback.Event
	for _, e := range events {
		if e.Kind == rollback.KindManual {
			aborts = append(aborts, e)
		}
	}
	if len(aborts) != 1 || aborts[0].Actor != "cloudwatch alarm checkout-5xx" ||
		!strings.Contains(aborts[0].Reason, wantSince) || !strings.Contains(aborts[0].Reason, "Threshold Crossed") {
		t.Fatalf("aborts: %v", aborts)
	}
}

func TestNewAlarmsRefusesBadConfig(t *testing.T) {
	for _, c := range []cloudwatch.AlarmsConfig{
		{},
		{Names: []string{""}},
		{Names: []string{"a"}, For: -time.Second},
	} {
		c.AWS = &aws.Config{Region: "eu-west-2"}
		if _, err := cloudwatch.NewAlarms(context.Background(), c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// wire is the network between one replica and the API server, as a test
// controls it (rest.Config.WrapTransport). It records every request and
// the answer. Once cut, it holds every request — ignoring the request's
// context, as a stalled network or a paused process does — until heal;
// a held request then reaches the server with its cancellation removed
// (it was on the wire already), so the server, not the client's own
// timeout, decides what becomes of it.
type wire struct {
	mu     sync.Mutex
	cutAt  func(*http.Request) bool // when set, the first request it matches cuts the wire
	cut    bool
	healed chan struct{}
	once   sync.Once
	reqs   []*wireReq
}

// wireReq is one request as the wire saw it.
type wireReq struct {
	Seq                        int
	Method, Path, FieldManager string
	Held                       bool
	Done                       bool
	Status                     int // 0 when the request failed without an answer
	Err                        error
}

func newWire() *wire { return &wire{healed: make(chan struct{})} }

// wrap is a rest.Config.WrapTransport.
func (w *wire) wrap(rt http.RoundTripper) http.RoundTripper { return wireRT{w, rt} }

// cutOn cuts the wire at the first request match accepts (that request is
// held, and every one after it).
func (w *wire) cutOn(match func(*http.Request) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cutAt = match
}

// heal lets the held requests through and holds no more.
func (w *wire) heal() {
	w.mu.Lock()
	w.cut, w.cutAt = false, nil
	w.mu.Unlock()
	w.once.Do(func() { close(w.healed) })
}

// snapshot returns copies of the requests seen so far.
func (w *wire) snapshot() []wireReq {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]wireReq, len(w.reqs))
	for i, r := range w.reqs {
		out[i] = *r
	}
	return out
}

type wireRT struct {
	w    *wire
	next http.RoundTripper
}

func (t wireRT) RoundTrip(req *http.Request) (*http.Response, error) {
	w := t.w
	w.mu.Lock()
	if !w.cut && w.cutAt != nil && w.cutAt(req) {
		w.cut = true
	}
	r := &wireReq{Seq: len(w.reqs), Method: req.Method, Path: req.URL.Path, FieldManager: req.URL.Query().Get("fieldManager"), Held: w.cut}
	w.reqs = append(w.reqs, r)
	healed := w.healed
	w.mu.Unlock()
	if r.Held {
		<-healed
		req = req.WithContext(context.WithoutCancel(req.Context()))
	}
	resp, err := t.next.RoundTrip(req)
	w.mu.Lock()
	r.Done, r.Err = true, err
	if resp != nil {
		r.Status = resp.StatusCode
	}
	w.mu.Unlock()
	return resp, err
}

// WrappedRoundTripper lets client-go reach the transport underneath.
func (t wireRT) WrappedRoundTripper() http.RoundTripper { return t.next }

func isWrite(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// resourceOf returns the resource a request path names ("configmaps",
// "rollouts/status"…), or "" for a path outside a namespace.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	i := slices.Index(parts, "namespaces")
	if i < 0 || i+2 >= len(parts) {
		return ""
	}
	res := parts[i+2]
	if i+4 < len(parts) {
		res += "/" + parts[i+4]
	}
	return res
}

// logCapture keeps every record a replica logs (whatever the level shown).
type logCapture struct {
	mu   sync.Mutex
	recs []captured
}

type captured struct {
	Msg  string
	Errs []error
}

// find returns the errors of the records whose message is msg.
func (c *logCapture) find(msg string) []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []error
	for _, r := range c.recs {
		if r.Msg == msg {
			out = append(out, r.Errs...)
		}
	}
	return out
}

// count returns the number of records whose message is msg.
func (c *logCapture) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.recs {
		if r.Msg == msg {
			n++
		}
	}
	return n
}

// errors returns every error logged.
func (c *logCapture) errors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []error
	for _, r := range c.recs {
		out = append(out, r.Errs...)
	}
	return out
}

type captureHandler struct {
	c    *logCapture
	next slog.Handler
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h captureHandler) Handle(ctx context.Context, r slog.Record) error {
	c := captured{Msg: r.Message}
	r.Attrs(func(a slog.Attr) bool {
		if e, ok := a.Value.Any().(error); ok {
			c.Errs = append(c.Errs, e)
		}
		return true
	})
	h.c.mu.Lock()
	h.c.recs = append(h.c.recs, c)
	h.c.mu.Unlock()
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return captureHandler{h.c, h.next.WithAttrs(as)}
}

func (h captureHandler) WithGroup(n string) slog.Handler {
	return captureHandler{h.c, h.next.WithGroup(n)}
}

// manualClock is a replica's "now", moved by the test.
type manualClock struct{ ns atomic.Int64 }

func newManualClock(t time.Time) *manualClock {
	c := &manualClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *manualClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *manualClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// rbacGVR maps the kinds of deploy/rbac.yaml to their resources.
var rbacGVR = map[string]schema.GroupVersionResource{
	"ServiceAccount":     {Version: "v1", Resource: "serviceaccounts"},
	"ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	"Role":               {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	"RoleBinding":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
}

const manifestNamespace = "meshcanary-system"

// serviceAccount is the controller's ServiceAccount in the test's
// namespace.
func (f *fixture) serviceAccount() string {
	return "system:serviceaccount:" + f.ns + ":meshcanary-controller"
}

// applyRBAC applies deploy/rbac.yaml to the API server with its namespace
// (meshcanary-system) replaced by the test's and its cluster-wide names
// suffixed with it, after edit (when not nil) changed the objects, waits
// until the API server's authorizer grants every rule it holds, and
// returns a config that impersonates the manifest's ServiceAccount. The
// harness runs kube-apiserver with --authorization-mode=RBAC: the
// impersonated controller can do what the manifest allows and nothing
// more.
func (f *fixture) applyRBAC(t *testing.T, edit func(kind string, obj map[string]any)) *rest.Config {
	t.Helper()
	b, err := os.ReadFile("deploy/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(string(b), "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		switch u.GetKind() {
		case "ClusterRole", "ClusterRoleBinding":
			u.SetName(u.GetName() + "-" + f.ns)
		default:
			if u.GetNamespace() != manifestNamespace {
				t.Fatalf("deploy/rbac.yaml: %s %s is in namespace %q, want %s", u.GetKind(), u.GetName(), u.GetNamespace(), manifestNamespace)
			}
			u.SetNamespace(f.ns)
		}
		if ref, ok := m["roleRef"].(map[string]any); ok && ref["kind"] == "ClusterRole" {
			ref["name"] = ref["name"].(string) + "-" + f.ns
		}
		if subs, ok := m["subjects"].([]any); ok {
			for _, s := range subs {
				s.(map[string]any)["namespace"] = f.ns
			}
		}
		if edit != nil {
			edit(u.GetKind(), m)
		}
		if y, _ := yaml.Marshal(m); strings.Contains(string(y), manifestNamespace) {
			t.Fatalf("deploy/rbac.yaml: %s %s still names %s after the rewrite", u.GetKind(), u.GetName(), manifestNamespace)
		}
		objs = append(objs, u)
	}
	var rules []map[string]any
	for _, u := range objs {
		gvr, ok := rbacGVR[u.GetKind()]
		if !ok {
			t.Fatalf("deploy/rbac.yaml: unexpected kind %s", u.GetKind())
		}
		ri := f.dc.Resource(gvr)
		var err error
		if u.GetNamespace() == "" {
			_, err = ri.Create(f.ctx, u, metav1.CreateOptions{})
			name := u.GetName()
			t.Cleanup(func() { _ = ri.Delete(context.Background(), name, metav1.DeleteOptions{}) })
		} else {
			_, err = ri.Namespace(u.GetNamespace()).Create(f.ctx, u, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatalf("applying %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		if u.GetKind() == "ClusterRole" || u.GetKind() == "Role" {
			rs, _, _ := unstructured.NestedSlice(u.Object, "rules")
			for _, r := range rs {
				rules = append(rules, r.(map[string]any))
			}
		}
	}
	// RBAC takes effect when the authorizer's caches catch up: wait
	// until every granted (verb, resource) is allowed.
	poll(t, 2*time.Minute, "the manifest's rules to be in force", func() (bool, string) {
		for _, r := range rules {
			ns := f.ns // the Role's namespace, and where the ClusterRole is used
			for _, g := range strs(r["apiGroups"]) {
				for _, res := range strs(r["resources"]) {
					resource, sub, _ := strings.Cut(res, "/")
					for _, v := range strs(r["verbs"]) {
						sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
							User: f.serviceAccount(), Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + f.ns, "system:authenticated"},
							ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: v, Group: g, Resource: resource, Subresource: sub}}}
						out, err := f.kc.AuthorizationV1().SubjectAccessReviews().Create(f.ctx, sar, metav1.CreateOptions{})
						if err != nil {
							return false, err.Error()
						}
						if !out.Status.Allowed {
							return false, fmt.Sprintf("%s %s.%s not yet allowed", v, res, g)
						}
					}
				}
			}
		}
		return true, ""
	})
	cfg := rest.CopyConfig(f.env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: f.serviceAccount()}
	return cfg
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// withoutVerb removes verb from the rules of the manifest's ClusterRole
// for resource (a rule left with no verb is dropped).
func withoutVerb(resource, verb string) func(kind string, obj map[string]any) {
	return func(kind string, obj map[string]any) {
		if kind != "ClusterRole" {
			return
		}
		var rules []any
		for _, r := range obj["rules"].([]any) {
			r := r.(map[string]any)
			if slices.Contains(strs(r["resources"]), resource) {
				var keep []any
				for _, v := range strs(r["verbs"]) {
					if v != verb {
						keep = append(keep, v)
					}
				}
				if len(keep) == 0 {
					continue // a rule needs a verb: drop it
				}
				r["verbs"] = keep
			}
			rules = append(rules, r)
		}
		obj["rules"] = rules
	}
}

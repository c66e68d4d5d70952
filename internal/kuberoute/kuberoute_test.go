package kuberoute

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshcanary/canary/traffic"
)

// route is a stand-in for an API object: a resourceVersion, the two
// weights and a map, so that a shallow copy would share state.
type route struct {
	Version        int
	Stable, Canary int
	Labels         map[string]string
}

func (r *route) DeepCopy() *route {
	c := *r
	c.Labels = maps.Clone(r.Labels)
	return &c
}

var gr = schema.GroupResource{Group: "example.com", Resource: "routes"}

// server is an in-memory API server for one route: PUTs are guarded by
// the version, and every request is counted.
type server struct {
	mu        sync.Mutex
	obj       *route       // nil: not found
	getErr    func() error // when set and it returns an error, the GET fails
	putErr    func() error // when set and it returns an error, the PUT fails
	webhook   func(*route) // changes what a PUT stores
	bumpOnPut bool         // another client writes just before every PUT
	splitErr  error        // returned by SplitOf
	requests  []string     // "GET", "PUT" in order
}

func newServer() *server {
	return &server{obj: &route{Version: 1, Stable: 100, Labels: map[string]string{"owner": "helm"}}}
}

func (s *server) get(context.Context) (*route, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, "GET")
	if s.getErr != nil {
		if err := s.getErr(); err != nil {
			return nil, err
		}
	}
	if s.obj == nil {
		return nil, apierrors.NewNotFound(gr, "cart")
	}
	return s.obj.DeepCopy(), nil
}

func (s *server) update(_ context.Context, r *route) (*route, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, "PUT")
	if s.bumpOnPut && s.obj != nil {
		s.obj.Version++
	}
	if s.putErr != nil {
		if err := s.putErr(); err != nil {
			return nil, err
		}
	}
	if s.obj == nil {
		return nil, apierrors.NewNotFound(gr, "cart")
	}
	if r.Version != s.obj.Version {
		return nil, apierrors.NewConflict(gr, "cart", errors.New("the object has been modified"))
	}
	stored := r.DeepCopy()
	stored.Version++
	if s.webhook != nil {
		s.webhook(stored)
	}
	s.obj = stored
	return stored.DeepCopy(), nil
}

func (s *server) counts() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.requests)
}

func (s *server) reset() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
}

func newObject(s *server, retries int) *Object[route] {
	return &Object[route]{
		Name:   "Route shop/cart",
		Get:    s.get,
		Update: s.update,
		SplitOf: func(r *route) (traffic.Split, error) {
			if s.splitErr != nil {
				return traffic.Split{}, s.splitErr
			}
			return traffic.Split{Stable: r.Stable, Canary: r.Canary}, nil
		},
		DeepCopy: (*route).DeepCopy,
		Retries:  retries,
	}
}

// setSplit is what the routers do: the write of a split.
func setSplit(o *Object[route], start *route, want traffic.Split) error {
	return o.Modify(context.Background(), start, func(r *route) (bool, error) {
		r.Stable, r.Canary = want.Stable, want.Canary
		return true, nil
	}, &want)
}

func TestReadWrapsServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		want      string
		sentinel  error
		statusErr bool
	}{
		{"404", apierrors.NewNotFound(gr, "cart"),
			`get Route shop/cart: traffic: route not found: routes.example.com "cart" not found`, traffic.ErrNotFound, true},
		{"409", apierrors.NewConflict(gr, "cart", errors.New("x")),
			`get Route shop/cart: traffic: conflicting update: Operation cannot be fulfilled on routes.example.com "cart": x`, traffic.ErrConflict, true},
		{"503", apierrors.NewServiceUnavailable("etcd is down"),
			`get Route shop/cart: etcd is down`, nil, true},
		{"plain", errors.New("connection refused"),
			`get Route shop/cart: connection refused`, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer()
			s.getErr = func() error { return tc.err }
			o := newObject(s, 5)
			got, err := o.Read(context.Background())
			if got != nil || err == nil || err.Error() != tc.want {
				t.Fatalf("Read = %v, %v; want the error %q", got, err, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("the server's error is not wrapped: %v", err)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("%v does not wrap %v", err, tc.sentinel)
			}
			for _, sentinel := range []error{traffic.ErrNotFound, traffic.ErrConflict, traffic.ErrVerify} {
				if sentinel != tc.sentinel && errors.Is(err, sentinel) {
					t.Errorf("%v wraps %v too", err, sentinel)
				}
			}
			var se *apierrors.StatusError
			if got := errors.As(err, &se); got != tc.statusErr {
				t.Errorf("errors.As(err, *StatusError) = %v, want %v", got, tc.statusErr)
			}
			if o.Cached() != nil {
				t.Error("a failed read was remembered")
			}
		})
	}
}

func TestCachedIsAPrivateCopy(t *testing.T) {
	s := newServer()
	o := newObject(s, 5)
	if c := o.Cached(); c != nil {
		t.Fatalf("Cached before any read = %+v, want nil", c)
	}
	got, err := o.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got.Canary, got.Labels["owner"] = 99, "caller"
	c := o.Cached()
	if c == nil || c.Canary != 0 || c.Labels["owner"] != "helm" || c.Version != 1 {
		t.Fatalf("Cached = %+v, want the object as read, untouched by the caller", c)
	}
	c.Labels["owner"] = "someone"
	if again := o.Cached(); again.Labels["owner"] != "helm" {
		t.Errorf("a change to one Cached copy shows in the next: %+v", again)
	}
}

func TestModifyOneGetOnePut(t *testing.T) {
	s := newServer()
	o := newObject(s, 5)
	if err := setSplit(o, nil, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	if got := s.counts(); got != "[GET PUT]" {
		t.Errorf("a write sent %s, want [GET PUT]", got)
	}
	if c := o.Cached(); c.Version != 2 || c.Canary != 10 {
		t.Errorf("Cached = %+v, want what the server returned (version 2, canary 10)", c)
	}
}

// The one-PUT rollback: starting from the cached object sends no GET.
func TestModifyFromStartSendsOnePut(t *testing.T) {
	s := newServer()
	o := newObject(s, 5)
	if err := setSplit(o, nil, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	s.reset()
	if err := setSplit(o, o.Cached(), traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := s.counts(); got != "[PUT]" {
		t.Errorf("a write from the cached object sent %s, want [PUT]", got)
	}
	if s.obj.Canary != 0 || s.obj.Version != 3 {
		t.Errorf("stored %+v, want all stable at version 3", s.obj)
	}
}

// A stale start conflicts and falls back to a fresh read.
func TestModifyStaleStartRereads(t *testing.T) {
	s := newServer()
	o := newObject(s, 5)
	if _, err := o.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.obj.Version, s.obj.Labels["edit"] = 7, "theirs" // another client's write
	s.reset()
	if err := setSplit(o, o.Cached(), traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := s.counts(); got != "[PUT GET PUT]" {
		t.Errorf("requests %s, want [PUT GET PUT]", got)
	}
	if s.obj.Labels["edit"] != "theirs" {
		t.Errorf("the other client's edit was lost: %+v", s.obj)
	}
}

func TestModifyRetriesConflictsWithAFreshRead(t *testing.T) {
	s := newServer()
	conflicts := 2
	s.putErr = func() error {
		if conflicts > 0 {
			conflicts--
			return apierrors.NewConflict(gr, "cart", errors.New("modified"))
		}
		return nil
	}
	o := newObject(s, 5)
	if err := setSplit(o, nil, traffic.Weighted(30)); err != nil {
		t.Fatal(err)
	}
	if got := s.counts(); got != "[GET PUT GET PUT GET PUT]" {
		t.Errorf("requests %s, want a fresh GET before each of 3 PUTs", got)
	}
}

func TestModifyGivesUpAfterRetries(t *testing.T) {
	for _, tc := range []struct {
		retries  int
		start    bool
		attempts int
		requests string
	}{
		{2, false, 3, "[GET PUT GET PUT GET PUT]"},
		{2, true, 3, "[PUT GET PUT GET PUT]"},
		{0, false, 1, "[GET PUT]"}, // the callers apply their default themselves
		{-1, false, 1, "[GET PUT]"},
		{-1, true, 1, "[PUT]"},
	} {
		t.Run(fmt.Sprintf("retries=%d,start=%v", tc.retries, tc.start), func(t *testing.T) {
			s := newServer()
			s.bumpOnPut = true // another client always writes first
			o := newObject(s, tc.retries)
			var start *route
			if tc.start {
				start = s.obj.DeepCopy()
			}
			err := setSplit(o, start, traffic.Weighted(25))
			want := fmt.Sprintf(`update Route shop/cart: gave up after %d conflicts: traffic: conflicting update: `+
				`Operation cannot be fulfilled on routes.example.com "cart": the object has been modified`, tc.attempts)
			if err == nil || err.Error() != want {
				t.Fatalf("Modify = %v, want %q", err, want)
			}
			var se *apierrors.StatusError
			if !errors.Is(err, traffic.ErrConflict) || !errors.As(err, &se) || !apierrors.IsConflict(err) {
				t.Errorf("%v: want traffic.ErrConflict wrapping the 409", err)
			}
			if got := s.counts(); got != tc.requests {
				t.Errorf("requests %s, want %s", got, tc.requests)
			}
		})
	}
}

func TestModifyWritesNothingWhenNotAsked(t *testing.T) {
	s := newServer()
	o := newObject(s, 5)
	err := o.Modify(context.Background(), nil, func(*route) (bool, error) { return false, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.counts(); got != "[GET]" {
		t.Errorf("requests %s, want [GET]", got)
	}
}

func TestModifyReturnsModifyErrorAsIs(t *testing.T) {
	s := newServer()
	o := newObject(s, 5)
	bad := errors.New("the route cannot carry the split")
	err := o.Modify(context.Background(), nil, func(*route) (bool, error) { return true, bad }, nil)
	if err != bad {
		t.Fatalf("Modify = %v, want the modify error itself", err)
	}
	if got := s.counts(); got != "[GET]" {
		t.Errorf("requests %s, want [GET]", got)
	}
}

func TestModifyWrapsUpdateErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
		is   error
	}{
		{"404", apierrors.NewNotFound(gr, "cart"), `update Route shop/cart: traffic: route not found: routes.example.com "cart" not found`, traffic.ErrNotFound},
		{"500", apierrors.NewInternalError(errors.New("boom")), `update Route shop/cart: Internal error occurred: boom`, nil},
		{"plain", errors.New("connection reset"), `update Route shop/cart: connection reset`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer()
			s.putErr = func() error { return tc.err }
			o := newObject(s, 5)
			err := setSplit(o, nil, traffic.Weighted(10))
			if err == nil || err.Error() != tc.want || !errors.Is(err, tc.err) {
				t.Fatalf("Modify = %v, want %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v does not wrap %v", err, tc.is)
			}
			if got := s.counts(); got != "[GET PUT]" {
				t.Errorf("requests %s, want [GET PUT] (only conflicts are retried)", got)
			}
		})
	}
}

func TestModifyVerifies(t *testing.T) {
	t.Run("the server stored another split", func(t *testing.T) {
		s := newServer()
		s.webhook = func(r *route) { r.Stable, r.Canary = 50, 50 }
		o := newObject(s, 5)
		err := setSplit(o, nil, traffic.Weighted(10))
		want := "Route shop/cart: traffic: split read back differs from the split written: wrote stable 90% / canary 10%, the server stored stable 50% / canary 50%"
		if !errors.Is(err, traffic.ErrVerify) || err.Error() != want {
			t.Fatalf("Modify = %v, want %q", err, want)
		}
		if c := o.Cached(); c.Canary != 50 {
			t.Errorf("Cached = %+v, want what the server stored", c)
		}
	})
	t.Run("the stored object is unreadable", func(t *testing.T) {
		s := newServer()
		s.splitErr = errors.New("no canary target")
		o := newObject(s, 5)
		err := setSplit(o, nil, traffic.Weighted(10))
		want := "Route shop/cart: traffic: split read back differs from the split written: no canary target"
		if !errors.Is(err, traffic.ErrVerify) || !errors.Is(err, s.splitErr) || err.Error() != want {
			t.Fatalf("Modify = %v, want %q", err, want)
		}
	})
	t.Run("nothing to verify", func(t *testing.T) {
		s := newServer()
		s.webhook = func(r *route) { r.Stable, r.Canary = 50, 50 }
		o := newObject(s, 5)
		err := o.Modify(context.Background(), nil, func(r *route) (bool, error) {
			r.Labels["x"] = "y"
			return true, nil
		}, nil)
		if err != nil {
			t.Fatalf("Modify without want = %v", err)
		}
	})
}

// Concurrent reads, writes and copies of the cache (meaningful under -race).
func TestConcurrentUse(t *testing.T) {
	s := newServer()
	o := newObject(s, 100)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				switch (i + j) % 3 {
				case 0:
					if _, err := o.Read(context.Background()); err != nil {
						t.Error(err)
					}
				case 1:
					if err := setSplit(o, o.Cached(), traffic.Weighted(10*(i%5))); err != nil && !errors.Is(err, traffic.ErrConflict) {
						t.Error(err)
					}
				default:
					if c := o.Cached(); c != nil {
						c.Labels["mine"] = fmt.Sprint(i)
					}
				}
			}
		})
	}
	wg.Wait()
}

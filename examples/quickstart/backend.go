package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/meshcanary/canary/providers/httpsplit"
)

// backendEnv is the environment variable that makes this program a back
// end: the quickstart starts each version as a child process of its own
// (this same executable with backendEnv set to a JSON backendSpec), so
// that each version's CPU time and memory are its own and can be measured.
const backendEnv = "MESHCANARY_QUICKSTART_BACKEND"

// backendSpec is what a child back end serves.
type backendSpec struct {
	Version   string        `json:"version"`
	Latency   time.Duration `json:"latency"`
	ErrorRate float64       `json:"errorRate"`
	// Burn is how many bytes each request hashes with SHA-256: CPU work
	// per request (the hungry canary's fault), zero for none.
	Burn int `json:"burn"`
}

// backendMain runs this process as a back end: it serves spec on a
// loopback port, with its own resource report at [httpsplit.ResourcePath],
// prints "listening <host:port>" on stdout, and exits when stdin ends —
// when the quickstart closes the pipe or dies — so no back end outlives
// the demo.
func backendMain(specJSON string, stdin io.Reader, stdout io.Writer) error {
	var spec backendSpec
	dec := json.NewDecoder(strings.NewReader(specJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("%s: %w", backendEnv, err)
	}
	if spec.Burn < 0 || spec.Burn > 64<<20 {
		return fmt.Errorf("%s: burn %d: must be between 0 and 64 MiB", backendEnv, spec.Burn)
	}
	b, err := httpsplit.NewBackend(httpsplit.BackendConfig{Version: spec.Version, Latency: spec.Latency, ErrorRate: spec.ErrorRate})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(httpsplit.ResourcePath, httpsplit.ResourceHandler(nil))
	var h http.Handler = b
	if spec.Burn > 0 {
		block := make([]byte, spec.Burn)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sum := sha256.Sum256(block)
			w.Header().Set("X-Work", fmt.Sprintf("%x", sum[:4]))
			b.ServeHTTP(w, r)
		})
	}
	mux.Handle("/", h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	if _, err := fmt.Fprintf(stdout, "listening %s\n", ln.Addr()); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, stdin) // until the parent closes it or dies
	return srv.Close()
}

// child is a back end running as a child process.
type child struct {
	url   *url.URL // where it serves
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// startChild starts this executable as a back end serving spec and waits
// (within ctx) for it to say where it listens.
func startChild(ctx context.Context, spec backendSpec) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("back end %s: %w", spec.Version, err)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), backendEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("back end %s: %w", spec.Version, err)
	}
	c := &child{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(c.done) }()
	select {
	case line, ok := <-lines:
		host, found := strings.CutPrefix(line, "listening ")
		if !ok || !found {
			c.stop()
			return nil, fmt.Errorf("back end %s: did not start (said %q)", spec.Version, line)
		}
		c.url = &url.URL{Scheme: "http", Host: host}
		return c, nil
	case <-ctx.Done():
		c.stop()
		return nil, fmt.Errorf("back end %s: %w", spec.Version, ctx.Err())
	}
}

// resources is the URL of the child's resource report.
func (c *child) resources() string { return c.url.String() + httpsplit.ResourcePath }

// stop ends the child: it closes its stdin (the child then shuts down)
// and kills it by its own PID if it has not exited within a second.
func (c *child) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.done:
		return
	case <-time.After(time.Second):
	}
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		fmt.Fprintln(os.Stderr, "quickstart: stopping back end:", err)
	}
	<-c.done
}

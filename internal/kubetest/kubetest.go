package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// KubeVersion is the kube-apiserver version the harness looks for in the
// cache when $MESHCANARY_KUBE_APISERVER is not set.
const KubeVersion = "v1.37.2"

const howTo = "run bash scripts/testenv.sh (it installs etcd and builds kube-apiserver into $HOME/.cache/meshcanary/bin), or bash scripts/test.sh"

// Environment is a running etcd and kube-apiserver.
type Environment struct {
	// Config authenticates as a member of system:masters. Copy it
	// (rest.CopyConfig) before changing it.
	Config *rest.Config

	host     string
	adminTok string
	denyTok  string
	dir      string
	procs    []*exec.Cmd
	logs     []string
}

var (
	mu      sync.Mutex
	current *Environment
	failure error
)

// Main runs the tests of m and then stops etcd and kube-apiserver if Env
// started them, removing their temporary directories. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if current != nil {
		current.stop()
		current = nil
	}
	return code
}

// Env returns the shared environment, starting it on the first call. Under
// go test -short it skips t. If the environment cannot start (a binary is
// missing, a port is taken…) it fails t with the reason and how to fix it.
func Env(t testing.TB) *Environment {
	t.Helper()
	if testing.Short() {
		t.Skip("needs etcd and kube-apiserver; run bash scripts/test.sh")
	}
	mu.Lock()
	defer mu.Unlock()
	if current == nil && failure == nil {
		e, err := start()
		if err != nil {
			failure = err
		} else {
			current = e
		}
	}
	if failure != nil {
		t.Fatalf("kubetest: %v", failure)
	}
	return current
}

// Namespace creates a namespace with a fresh name and deletes it when t
// ends. (With no controllers running, the deleted namespace's objects stay
// in etcd until the environment stops; no test can see them through a new
// namespace.)
func (e *Environment) Namespace(t testing.TB) string {
	t.Helper()
	kc := e.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "kt-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: create namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = kc.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// Kube returns a typed clientset authenticated as an administrator.
func (e *Environment) Kube(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(rest.CopyConfig(e.Config))
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return c
}

// Dynamic returns a dynamic client authenticated as an administrator.
func (e *Environment) Dynamic(t testing.TB) dynamic.Interface {
	t.Helper()
	c, err := dynamic.NewForConfig(rest.CopyConfig(e.Config))
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return c
}

// Logs returns the tail of etcd's and kube-apiserver's output, for a test
// that wants to show why the server refused something.
func (e *Environment) Logs() string {
	var b strings.Builder
	for _, p := range e.logs {
		data, _ := os.ReadFile(p)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "==> %s <==\n%s\n", filepath.Base(p), data)
	}
	return b.String()
}

func binary(env, fallback string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s=%s: %v; %s", env, p, err, howTo)
		}
		return p, nil
	}
	if filepath.IsAbs(fallback) {
		if _, err := os.Stat(fallback); err != nil {
			return "", fmt.Errorf("%s not found and $%s not set; %s", fallback, env, howTo)
		}
		return fallback, nil
	}
	p, err := exec.LookPath(fallback)
	if err != nil {
		return "", fmt.Errorf("%s not on PATH and $%s not set; %s", fallback, env, howTo)
	}
	return p, nil
}

func start() (_ *Environment, err error) {
	etcdBin, err := binary("MESHCANARY_ETCD", "etcd")
	if err != nil {
		return nil, err
	}
	home, _ := os.UserHomeDir()
	kasBin, err := binary("MESHCANARY_KUBE_APISERVER", filepath.Join(home, ".cache", "meshcanary", "bin", "kube-apiserver-"+KubeVersion))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, err
	}
	e := &Environment{dir: dir, adminTok: token(), denyTok: token()}
	defer func() {
		if err != nil {
			logs := e.Logs()
			e.stop()
			err = fmt.Errorf("%w\n%s", err, logs)
		}
	}()

	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	if err := e.spawn("etcd", etcdBin,
		"--name=kubetest",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--unsafe-no-fsync=true",
	); err != nil {
		// --unsafe-no-fsync appeared in etcd 3.4.10; nothing depends on it.
		return nil, err
	}
	if err := waitHTTP(context.Background(), http.DefaultClient, clientURL+"/health", "", 60*time.Second); err != nil {
		return nil, fmt.Errorf("etcd did not become healthy: %w", err)
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "sa.key")
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	tokFile := filepath.Join(dir, "tokens.csv")
	toks := fmt.Sprintf("%s,kubetest-admin,kubetest-admin,\"system:masters\"\n%s,kubetest-nobody,kubetest-nobody\n", e.adminTok, e.denyTok)
	if err := os.WriteFile(tokFile, []byte(toks), 0o600); err != nil {
		return nil, err
	}
	e.host = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	if err := e.spawn("kube-apiserver", kasBin,
		"--etcd-servers="+clientURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+tokFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+keyFile,
		"--service-account-signing-key-file="+keyFile,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	); err != nil {
		return nil, err
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if err := waitHTTP(context.Background(), insecure, e.host+"/readyz", e.adminTok, 120*time.Second); err != nil {
		return nil, fmt.Errorf("kube-apiserver did not become ready: %w", err)
	}
	e.Config = &rest.Config{
		Host:        e.host,
		BearerToken: e.adminTok,
		// The serving certificate is self-signed for 127.0.0.1 and the
		// connection never leaves the loopback interface.
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             -1, // no client-side rate limit: benchmarks measure the server
		Timeout:         30 * time.Second,
	}
	if err := e.installCRDs(context.Background()); err != nil {
		return nil, fmt.Errorf("install CRDs: %w", err)
	}
	return e, nil
}

func (e *Environment) spawn(name, bin string, args ...string) error {
	logPath := filepath.Join(e.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	f.Close()
	e.procs = append(e.procs, cmd)
	e.logs = append(e.logs, logPath)
	return nil
}

// stop ends the processes in reverse order of starting and removes the
// temporary directory.
func (e *Environment) stop() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		p := e.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	e.procs = nil
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

func waitHTTP(ctx context.Context, c *http.Client, url, bearer string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freePorts asks the kernel for n distinct free loopback ports. They are
// released before use, so another process could take one in between; the
// start then fails with a clear log rather than silently.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func token() string { return rand.Text() }

// Command controller is a Kubernetes controller built on the meshcanary
// library: it drives one canary rollout per Rollout custom resource
// (deploy/crd.yaml), sharded across replicas with one Lease per shard. See
// README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/dynamic"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshcanary/canary/metrics"
	mcprom "github.com/meshcanary/canary/providers/prometheus"
	"github.com/meshcanary/canary/trigger"
)

func main() {
	if err := run(context.Background(), os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		os.Exit(1)
	}
}

// run parses args and runs a replica until SIGTERM or SIGINT. provider,
// when not nil, answers the metrics instead of -prometheus (tests).
func run(ctx context.Context, args []string, provider metrics.Provider) error {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file; empty means in-cluster")
	namespace := fs.String("namespace", "", "watch only this namespace; empty watches all")
	leaseNS := fs.String("lease-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the shard Leases")
	identity := fs.String("identity", os.Getenv("POD_NAME"), "this replica's name in the Leases")
	shardsN := fs.Int("shards", 8, "number of shards (Leases)")
	workers := fs.Int("workers", 4, "rollouts stepped at once")
	leaseDur := fs.Duration("lease-duration", 15*time.Second, "Lease duration: a dead replica's shards move within it")
	renew := fs.Duration("renew-deadline", 10*time.Second, "how long a holder retries renewing before it gives a shard up")
	retry := fs.Duration("retry-period", 2*time.Second, "how often Leases are tried")
	promAddr := fs.String("prometheus", "", "Prometheus base URL for the rollouts' metrics")
	listen := fs.String("metrics-address", ":8080", "where /metrics and /healthz are served; empty serves nothing")
	balance := fs.Bool("balance", true, "spread the shards over the live replicas (member Leases)")
	qps := fs.Float64("kube-qps", 50, "client-side rate limit of API requests per second")
	alertsAddr := fs.String("alerts-address", "", "where the Alertmanager webhook receiver listens (e.g. :9095); empty runs none")
	alertsPath := fs.String("alerts-path", "/alerts", "URL path of the Alertmanager webhook receiver")
	alertsLabel := fs.String("alerts-label", DefaultAlertLabel, "the alert label naming the Rollout to roll back, as <namespace>.<name>")
	tokenFile := fs.String("alerts-token-file", "", "file holding the bearer token Alertmanager sends (http_config.authorization)")
	keyFile := fs.String("alerts-hmac-key-file", "", "file holding the HMAC key of signed requests (instead of -alerts-token-file)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var auth trigger.Authenticator
	if *alertsAddr != "" {
		if !strings.HasPrefix(*alertsPath, "/") {
			return fmt.Errorf("-alerts-path %q must start with /", *alertsPath)
		}
		var err error
		if auth, err = alertAuth(*tokenFile, *keyFile); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("identity", *identity)
	var rc *rest.Config
	var err error
	if *kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = float32(*qps), int(2**qps)
	rc.UserAgent = "meshcanary-controller"
	kc, err := k8s.NewForConfig(rc)
	if err != nil {
		return err
	}
	dc, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	rt, err := routers(rc)
	if err != nil {
		return err
	}
	if provider == nil && *promAddr != "" {
		p, err := mcprom.New(mcprom.Config{Address: *promAddr})
		if err != nil {
			return err
		}
		provider = p
	}
	col := mcprom.NewRolloutMetrics("")
	reg := prom.NewRegistry()
	reg.MustRegister(col, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c, err := New(Config{Kube: kc, Dynamic: dc, Routers: rt, Metrics: provider, Namespace: *namespace,
		LeaseNamespace: *leaseNS, Identity: *identity, Shards: *shardsN, Workers: *workers, Balance: *balance,
		LeaseDuration: *leaseDur, RenewDeadline: *renew, RetryPeriod: *retry, Log: log, Collector: col})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *alertsAddr != "" {
		recv, err := c.AlertReceiver(auth, *alertsLabel)
		if err != nil {
			return err
		}
		path := *alertsPath
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				http.NotFound(w, r)
				return
			}
			recv.ServeHTTP(w, r)
		})
		l, err := net.Listen("tcp", *alertsAddr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: abortWait + 30*time.Second}
		log.Info("receiving Alertmanager webhooks", "address", l.Addr().String(), "path", *alertsPath, "label", *alertsLabel)
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("alert receiver", "err", err)
			}
		}()
		defer srv.Close()
	}
	if *listen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		}()
		defer srv.Close()
	}
	return c.Run(ctx)
}

// alertAuth reads the receiver's credential: exactly one of a bearer
// token file and an HMAC key file. No error holds the secret.
func alertAuth(tokenFile, keyFile string) (trigger.Authenticator, error) {
	if (tokenFile == "") == (keyFile == "") {
		return nil, errors.New("-alerts-address needs exactly one of -alerts-token-file and -alerts-hmac-key-file")
	}
	path, what := tokenFile, "-alerts-token-file"
	if keyFile != "" {
		path, what = keyFile, "-alerts-hmac-key-file"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return nil, fmt.Errorf("%s %s is empty", what, path)
	}
	if tokenFile != "" {
		return trigger.Bearer{Token: secret}, nil
	}
	h, err := trigger.NewHMAC(trigger.HMACConfig{Key: []byte(secret)})
	if err != nil {
		return nil, err
	}
	return h, nil
}

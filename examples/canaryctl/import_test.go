package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestImport maps the examples of Flagger's and Argo Rollouts' own
// documentation (testdata/flagger, testdata/argo; sources in each file's
// header) and checks that the result is a valid rollout file with the
// values the originals meant, and that what could not be mapped is listed.
func TestImport(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		want  []string // in the rollout file
		notes []string // in the "not mapped" list
	}{
		{"flagger istio tutorial", []string{"flagger", "testdata/flagger/podinfo-canary.yaml"},
			[]string{"stageWeight: 10", "maxWeight: 50", "interval: 1m", "deadline: 1m", "failureLimit: 5",
				"builtin: istio/error-rate", "max: 0.01", "builtin: istio/latency-p99", "max: 0.5", "window: 30s",
				"virtualService: podinfo", "host: podinfo-canary",
				"    - name: acceptance-test\n      type: pre-rollout\n      url: http://flagger-loadtester.test/\n      timeout: 30s\n      metadata:\n        cmd: curl -sd 'test' http://podinfo-canary:9898/token | grep token\n        type: bash\n",
				"    - name: load-test\n      type: rollout\n      url: http://flagger-loadtester.test/\n      timeout: 5s\n      metadata:\n        cmd: hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/\n"},
			[]string{"spec.analysis.webhooks: canaryctl run calls them from where it runs",
				"spec.autoscalerRef", "spec.service.gateways", "spec.service.hosts", "spec.service.retries", "no values as a failed check"}},
		{"flagger stepWeights, MetricTemplate, promotion gate", []string{"flagger", "testdata/flagger/custom-metric.yaml"},
			[]string{"- weight: 1\n", "- weight: 80\n", "beforePromotion: true", `destination_workload="{{workload}}"`,
				"}[{{window}}]", "address: http://prometheus.istio-system:9090", "max: 5", "failureLimit: 10",
				"    - name: promotion gate\n      type: confirm-promotion\n      url: http://flagger-loadtester.test/gate/approve\n      timeout: 10s\n"},
			nil},
		{"flagger webhooks of every type", []string{"flagger", "testdata/flagger/webhooks.yaml"},
			[]string{"beforeIncrease: true", "beforePromotion: true",
				"    - name: start gate\n      type: confirm-rollout\n      url: http://flagger-loadtester.test/gate/approve\n      timeout: 10s\n      retries: 5\n",
				"    - name: helm test\n      type: pre-rollout\n      url: http://flagger-helmtester.flagger/\n      timeout: 3m\n      metadata:\n        cmd: test podinfo -n test\n        type: helmv3\n",
				"    - name: load test\n      type: rollout\n      url: http://flagger-loadtester.test/\n      timeout: 15s\n",
				"    - name: traffic increase gate\n      type: confirm-traffic-increase\n",
				"    - name: notify\n      type: post-rollout\n      url: http://telegram.bot:8080/\n      timeout: 5s\n      metadata:\n        some: message\n",
				"    - name: rollback gate\n      type: rollback\n      url: http://flagger-loadtester.test/rollback/check\n",
				"    - name: send to Slack\n      type: event\n      url: http://event-recevier.notifications/slack\n      timeout: 5s\n      retries: 3\n      metadata:\n        cluster: flagger-test\n        environment: test\n",
				"    - name: muted gate\n      type: confirm-rollout\n"},
			[]string{"spec.analysis.webhooks[8].muteAlert: not mapped"}},
		{"flagger webhooks a rollout file cannot take", []string{"flagger", "testdata/flagger/webhooks-odd.yaml"},
			[]string{"    - name: webhook-4\n      type: rollout\n      url: http://flagger-loadtester.test/\n      timeout: 1s\n",
				"    - name: load\n      type: rollout\n      url: http://flagger-loadtester.test/\n      timeout: 10s\n      retries: 10\n      metadata:\n        cmd: hey -z 1m -q 5 -c 2 http://podinfo-canary.test:9898/\n    - name: load-2\n"},
			[]string{`spec.analysis.webhooks[0].url: not an http or https URL; hook "no url" left out`,
				`spec.analysis.webhooks[1].url: not an http or https URL; hook "ftp" left out`,
				`spec.analysis.webhooks[2].type "pre-flight": not a Flagger webhook type`,
				"spec.analysis.webhooks[3].name: none given; named webhook-4",
				`spec.analysis.webhooks[3].timeout "500ms": under a second`,
				"spec.analysis.webhooks[4].retries 20: a rollout file takes 0 to 10; 10 used",
				"spec.analysis.webhooks[4].metadata.nested: not a string; left out",
				`spec.analysis.webhooks[5].name "load": used twice; this one named "load-2"`,
				`spec.analysis.webhooks[5].timeout "soon": not a duration`,
				"spec.analysis.webhooks[5].headers"}},
		{"argo background analysis", []string{"argo", "testdata/argo/analysistemplate.yaml", "testdata/argo/rollout.yaml"},
			[]string{"weight: 20\n      hold: 10m", "weight: 80\n      hold: 10m", "interval: 5m", "min: 0.95",
				`destination_service=~"guestbook-svc.default.svc.cluster.local"`, "failureLimit: 4",
				"virtualService: rollout-vsvc", "route: primary", "host: canary-svc"},
			[]string{"startingStep: not mapped", "does not select the version"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := ctl(t, t.TempDir(), append([]string{"import"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("rollout file lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.notes {
				if !strings.Contains(errOut, n) || !strings.Contains(out, n) {
					t.Errorf("not-mapped list lacks %q:\n%s", n, errOut)
				}
			}
			p := filepath.Join(t.TempDir(), "imported.yaml")
			os.WriteFile(p, []byte(out), 0o644)
			if v, e, code := ctl(t, t.TempDir(), "validate", "-f", p); code != 0 {
				t.Errorf("the imported file does not validate: %s %s", v, e)
			}
		})
	}
	_, errOut, code := ctl(t, t.TempDir(), "import", "argo", "testdata/argo/rollout.yaml")
	if code != 2 || !strings.Contains(errOut, `uses AnalysisTemplate "success-rate", which is not in the files given`) {
		t.Errorf("argo without its template: exit %d %s", code, errOut)
	}
}

// TestImportDocumentationCorpus imports every Rollout and Canary of the
// projects' documentation and examples, read at test time from their Go
// modules (corpus_test.go; the source of each case in its header).
// Each either imports into a rollout file that validates, or is refused
// with exit status 2, nothing on standard output, and a sentence — no Go
// value dump. The counts are the ones README.md states.
func TestImportDocumentationCorpus(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	dump := regexp.MustCompile(`map\[|&\{|%!|\[\]interface|0x[0-9a-f]{6}|<nil>`)
	for _, tc := range []struct{ tool, kind, row string }{
		{"argo", "Rollout", "Argo Rollouts documentation and examples"},
		{"flagger", "Canary", "Flagger documentation and examples"},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join(docCorpus(t, tc.tool), "*.yaml"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no corpus: %v", err)
			}
			imported, refused, total := 0, 0, 0
			// Flagger's webhooks: the Canaries that have some, imported and
			// refused, and how many of the imported ones' webhooks are in
			// the rollout file's signals.webhooks.
			hooked := struct{ imported, refused, hooks, mapped int }{}
			// The release strategies other than a weighted canary (issue
			// 20), as the source object states them: imported, refused.
			shaped := map[string]*[2]int{}
			for _, f := range files {
				for _, name := range objectNames(t, f, tc.kind) {
					total++
					nHooks := 0
					if tc.tool == "flagger" {
						nHooks = canaryWebhooks(t, f, name)
					}
					args := []string{"import", tc.tool, f}
					if name != "" {
						args = []string{"import", "--name", name, tc.tool, f}
					}
					out, errOut, code := ctl(t, t.TempDir(), args...)
					shapes := sourceStrategies(t, f, tc.kind, name)
					if code == 0 {
						p := filepath.Join(t.TempDir(), "imported.yaml")
						if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
							t.Fatal(err)
						}
						if v, e, code := ctl(t, t.TempDir(), "validate", "-f", p); code != 0 {
							t.Errorf("%s %s: imported, but the file does not validate: %s%s", f, name, v, e)
							continue
						}
						imported++
						for _, sh := range shapes {
							if shaped[sh] == nil {
								shaped[sh] = new([2]int)
							}
							shaped[sh][0]++
							if !strings.Contains(out, strategyMark[sh]) {
								t.Errorf("%s %s: a %s imported without %q:\n%s", f, name, sh, strategyMark[sh], out)
							}
						}
						if nHooks > 0 {
							hooked.imported++
							hooked.hooks += nHooks
							hooked.mapped += importedWebhooks(t, out)
						}
						continue
					}
					last := strings.TrimSpace(errOut)
					if i := strings.LastIndex(last, "\n"); i >= 0 {
						last = last[i+1:]
					}
					switch {
					case code != 2:
						t.Errorf("%s %s: exit %d, want 0 or 2: %s", f, name, code, errOut)
					case out != "":
						t.Errorf("%s %s: refused, yet wrote %q", f, name, out)
					case !strings.HasPrefix(last, "canaryctl import: ") || len(strings.Fields(last)) < 8:
						t.Errorf("%s %s: the refusal is not a sentence: %q", f, name, last)
					case dump.MatchString(errOut):
						t.Errorf("%s %s: the refusal dumps a Go value: %q", f, name, errOut)
					default:
						refused++
						for _, sh := range shapes {
							if shaped[sh] == nil {
								shaped[sh] = new([2]int)
							}
							shaped[sh][1]++
						}
						if nHooks > 0 {
							hooked.refused++
						}
						t.Logf("refused %s %s %v: %s", filepath.Base(f), name, shapes, last)
					}
				}
			}
			row := fmt.Sprintf("| %s | %d | %d | %d |", tc.row, imported, refused, total)
			t.Logf("%s", row)
			if !bytes.Contains(readme, []byte(row)) {
				t.Errorf("README.md does not hold the row %q", row)
			}
			for _, sh := range strategyOrder[tc.tool] {
				c := shaped[sh]
				if c == nil {
					c = new([2]int)
				}
				row = fmt.Sprintf("| %s: %s | %d | %d | %d |", tc.tool, sh, c[0], c[1], c[0]+c[1])
				t.Logf("%s", row)
				if !bytes.Contains(readme, []byte(row)) {
					t.Errorf("README.md does not hold the row %q", row)
				}
			}
			if tc.tool != "flagger" {
				return
			}
			row = fmt.Sprintf("| Flagger Canaries with webhooks | %d | %d | %d | %d of %d |", hooked.imported, hooked.refused,
				hooked.imported+hooked.refused, hooked.mapped, hooked.hooks)
			t.Logf("%s", row)
			if !bytes.Contains(readme, []byte(row)) {
				t.Errorf("README.md does not hold the row %q", row)
			}
		})
	}
}

// canaryWebhooks counts the spec.analysis.webhooks of the Canary named
// name in the file (the only one when name is empty).
func canaryWebhooks(t *testing.T, path, name string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				Analysis struct {
					Webhooks []any `yaml:"webhooks"`
				} `yaml:"analysis"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&d); err != nil {
			if err != io.EOF {
				t.Fatalf("%s: %v", path, err)
			}
			return 0
		}
		if d.Kind == "Canary" && (name == "" || d.Metadata.Name == name) {
			return len(d.Spec.Analysis.Webhooks)
		}
	}
}

// importedWebhooks counts the signals.webhooks of an imported rollout file.
func importedWebhooks(t *testing.T, file string) int {
	t.Helper()
	var ro struct {
		Signals struct {
			Webhooks []any `yaml:"webhooks"`
		} `yaml:"signals"`
	}
	if err := yaml.Unmarshal([]byte(file), &ro); err != nil {
		t.Fatal(err)
	}
	return len(ro.Signals.Webhooks)
}

// objectNames lists the metadata.name of every document of the kind in
// the file; a file with one such object gives [""] (imported without
// --name).
func objectNames(t *testing.T, path, kind string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var names []string
	for {
		var d struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		}
		err := dec.Decode(&d)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d.Kind == kind {
			names = append(names, d.Metadata.Name)
		}
	}
	if len(names) == 1 {
		return []string{""}
	}
	return names
}

// TestImportChoosesByName imports one object of a multi-document file
// with --name and refuses, with a sentence, a file of several without it
// and a name that is not there.
func TestImportChoosesByName(t *testing.T) {
	const f = "testdata/flagger/multi.yaml"
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import", "flagger", f}, 2, `the files hold 2 Flagger Canaries ("checkout", "Payments_API"): choose one with --name`},
		{[]string{"import", "--name", "nope", "flagger", f}, 2, `the files hold no Flagger Canary named "nope" (they hold "checkout", "Payments_API")`},
		{[]string{"import", "--name", "checkout", "flagger", f}, 0, "virtualService: checkout"},
		// The name is converted, with a note; Linkerd is a Gateway API
		// route read by Linkerd, its metrics Flagger's Linkerd queries.
		{[]string{"import", "--name", "Payments_API", "flagger", f}, 0, `metadata.name "Payments_API" is not a valid rollout name; written as "payments-api"`},
		{[]string{"import", "--name", "Payments_API", "flagger", f}, 0, "name: payments-api\n"},
		{[]string{"import", "--name", "Payments_API", "flagger", f}, 0, "implementation: linkerd"},
		{[]string{"import", "--name", "Payments_API", "flagger", f}, 0, `response_total{namespace="{{namespace}}", deployment="{{workload}}", classification="failure"`},
	} {
		out, errOut, code := ctl(t, t.TempDir(), tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v: exit %d, want %d and %q:\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}

// TestImportRouters maps each router of Argo's trafficRouting and of
// Flagger's providers, and refuses the ones without a router here with a
// sentence that says what to do. Arguments "corpus/TOOL/FILE" name a case
// of the documentation corpus (corpus_test.go).
func TestImportRouters(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"argo smi", []string{"argo", "corpus/argo/docs-getting-started-smi-rollout.yaml"}, 0,
			[]string{"smi:\n", "trafficSplit: rollouts-demo\n", "service: rollouts-demo-stable\n", "stableBackend: rollouts-demo-stable\n", "canaryBackend: rollouts-demo-canary\n"}},
		{"argo alb", []string{"argo", "corpus/argo/docs-getting-started-alb-rollout.yaml"}, 0,
			[]string{"alb:\n", "ingress: rollouts-demo-ingress\n", "actionName: rollouts-demo-root\n", "servicePort: 80\n", "canaryService: rollouts-demo-canary\n"}},
		{"argo appMesh", []string{"argo", "corpus/argo/examples-appmesh-canary-rollout.yaml"}, 0,
			[]string{"appmesh:\n", "virtualRouter: my-svc\n", "stable: my-vn-stable\n", "canary: my-vn-canary\n", "AWS ended App Mesh support"}},
		{"argo no router", []string{"argo", "corpus/argo/docs-getting-started-basic-rollout.yaml"}, 0,
			[]string{"replicaRatio:\n", "replicas: 5\n", "stableDeployment: rollouts-demo-stable\n", "canaryDeployment: rollouts-demo-canary\n", "round to multiples of 20 %"}},
		{"argo gateway plugin", []string{"--name", "gateway-demo", "argo", "testdata/argo/routers.yaml"}, 0,
			[]string{"gatewayapi:\n", "route: argo-rollouts-http-route\n", "stable: argo-rollouts-stable-service\n", "canary: argo-rollouts-canary-service\n"}},
		{"argo workloadRef", []string{"--name", "workload-demo", "argo", "testdata/argo/routers.yaml"}, 0,
			[]string{"stableDeployment: rollout-ref-deployment\n", "canaryDeployment: rollout-ref-deployment-canary\n", "replicas: 4\n"}},
		{"argo nginx", []string{"--name", "nginx-demo", "argo", "testdata/argo/routers.yaml"}, 2,
			[]string{"ingress-nginx was retired in March 2026", "Gateway API HTTPRoute"}},
		{"argo two routers", []string{"argo", "corpus/argo/docs-getting-started-mixed-rollout.yaml"}, 2,
			[]string{"sets 2 traffic routers at once (spec.strategy.canary.trafficRouting: nginx, smi)"}},
		{"argo blue/green", []string{"argo", "corpus/argo/examples-rollout-bluegreen.yaml"}, 0,
			[]string{"strategy: bluegreen", "replicaRatio:\n", "service: rollout-bluegreen-active\n", "beforePromotion: true", "scaleDownDelay: 30s\n",
				`previewService "rollout-bluegreen-preview": no preview route is written`}},
		{"argo mirror route", []string{"argo", "corpus/argo/examples-istio-istio-mirror.yaml"}, 0,
			[]string{"strategy: bluegreen", "mirror: 50\n", "virtualService: istio-host-split-vsvc\n"}},
		{"argo other router", []string{"argo", "corpus/argo/examples-ambassador-rollout.yaml"}, 2,
			[]string{"trafficRouting.ambassador, which has no router here"}},
		{"flagger osm", []string{"--name", "osm-demo", "flagger", "testdata/flagger/providers.yaml"}, 0,
			[]string{"smi:\n", "trafficSplit: podinfo\n", "stableBackend: podinfo-primary\n", "canaryBackend: podinfo-canary\n", "osm_request_total{", "max: 0.01\n"}},
		{"flagger smi version", []string{"--name", "smi-demo", "flagger", "testdata/flagger/providers.yaml"}, 0,
			[]string{"smi:\n", "apiVersion: v1alpha3\n"}},
		{"flagger appmesh", []string{"--name", "appmesh-demo", "flagger", "testdata/flagger/providers.yaml"}, 0,
			[]string{"appmesh:\n", "virtualRouter: podinfo\n", "builtin: envoy/error-rate"}},
		{"flagger kubernetes", []string{"--name", "kubernetes-demo", "flagger", "testdata/flagger/providers.yaml"}, 0,
			[]string{"replicaRatio:\n", "stableDeployment: podinfo-primary\n", "canaryDeployment: podinfo\n", "replicas: 10\n", "set it to your replica count"}},
		{"flagger contour", []string{"--name", "contour-demo", "flagger", "testdata/flagger/providers.yaml"}, 2,
			[]string{`spec.provider "contour", which has no router here`, "set spec.provider: gatewayapi:v1"}},
		{"flagger nginx", []string{"flagger", "corpus/flagger/docs-gitbook-tutorials-nginx-progressive-delivery-2.yaml"}, 2,
			[]string{"ingress-nginx was retired in March 2026"}},
		{"flagger blue/green with Kubernetes' metrics", []string{"flagger", "corpus/flagger/docs-gitbook-tutorials-kubernetes-blue-green-1.yaml"}, 2,
			[]string{`Flagger's built-in metric for spec.provider "kubernetes" has no template here`}},
		{"flagger A/B", []string{"flagger", "corpus/flagger/docs-gitbook-tutorials-istio-ab-testing-2.yaml"}, 0,
			[]string{"strategy: abtest", "- header: user-agent\n        regex: .*Firefox.*\n", "- cookie: type\n        exact: insider\n", "iterations: 10\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := slices.Clone(tc.args)
			for i, a := range args {
				// A case of the documentation corpus (corpus_test.go).
				if rest, ok := strings.CutPrefix(a, "corpus/"); ok {
					tool, file, _ := strings.Cut(rest, "/")
					args[i] = filepath.Join(docCorpus(t, tool), file)
				}
			}
			out, errOut, code := ctl(t, t.TempDir(), append([]string{"import"}, args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errOut)
				}
			}
			if code != 0 {
				return
			}
			p := filepath.Join(t.TempDir(), "imported.yaml")
			if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			if v, e, code := ctl(t, t.TempDir(), "validate", "-f", p); code != 0 {
				t.Errorf("the imported file does not validate: %s %s", v, e)
			}
		})
	}
}

// strategyOrder lists the release strategies the corpus test counts, per
// tool, as sourceStrategies names them.
var strategyOrder = map[string][]string{
	"flagger": {"A/B test", "blue/green", "blue/green with mirroring", "session affinity"},
	"argo":    {"blueGreen", "setHeaderRoute", "setMirrorRoute"},
}

// strategyMark is what a rollout file imported from each strategy holds.
var strategyMark = map[string]string{
	"A/B test": "strategy: abtest", "blue/green": "strategy: bluegreen", "blue/green with mirroring": "strategy: bluegreen",
	"session affinity": "sessionAffinity:", "blueGreen": "strategy: bluegreen", "setHeaderRoute": "strategy: abtest", "setMirrorRoute": "mirror:",
}

// sourceStrategies says which release strategies other than a weighted
// canary the object (the only one of its kind when name is empty) uses,
// read from the source as the tool's documentation defines them:
// Flagger's analysis.match with iterations (A/B), iterations with no
// stepWeight (blue/green, with mirror: true mirroring),
// sessionAffinity; Argo's strategy.blueGreen and the canary steps
// setHeaderRoute and setMirrorRoute.
func sourceStrategies(t *testing.T, path, kind, name string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				Analysis struct {
					Match           []any `yaml:"match"`
					Iterations      any   `yaml:"iterations"`
					StepWeight      any   `yaml:"stepWeight"`
					StepWeights     any   `yaml:"stepWeights"`
					Mirror          bool  `yaml:"mirror"`
					SessionAffinity any   `yaml:"sessionAffinity"`
				} `yaml:"analysis"`
				Strategy struct {
					BlueGreen any `yaml:"blueGreen"`
					Canary    struct {
						Steps []map[string]any `yaml:"steps"`
					} `yaml:"canary"`
				} `yaml:"strategy"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&d); err != nil {
			if err != io.EOF {
				t.Fatalf("%s: %v", path, err)
			}
			return nil
		}
		if d.Kind != kind || (name != "" && d.Metadata.Name != name) {
			continue
		}
		var out []string
		a, st := d.Spec.Analysis, d.Spec.Strategy
		weighted := a.StepWeight != nil || a.StepWeights != nil
		switch {
		case len(a.Match) > 0 && a.Iterations != nil:
			out = append(out, "A/B test")
		case a.Iterations != nil && !weighted && a.Mirror:
			out = append(out, "blue/green with mirroring")
		case a.Iterations != nil && !weighted:
			out = append(out, "blue/green")
		}
		if a.SessionAffinity != nil {
			out = append(out, "session affinity")
		}
		if st.BlueGreen != nil {
			out = append(out, "blueGreen")
		}
		for _, k := range []string{"setHeaderRoute", "setMirrorRoute"} {
			if slices.ContainsFunc(st.Canary.Steps, func(s map[string]any) bool { _, ok := s[k]; return ok }) {
				out = append(out, k)
			}
		}
		return out
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flaggerCanary is a Flagger Canary whose spec.analysis is the given
// YAML (indented by four spaces), with provider p.
func flaggerCanary(p, analysis string) string {
	return `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: ` + p + `
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 1m
    threshold: 2
    metrics:
      - name: request-success-rate
        thresholdRange: {min: 99}
` + analysis
}

// importCase imports the file text with the tool and checks the exit
// status, that the output holds every want (the file and the notes), and
// that an imported file validates.
func importCase(t *testing.T, tool, text string, code int, want []string, absent []string) string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.yaml")
	if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, got := ctl(t, dir, "import", tool, in)
	if got != code {
		t.Fatalf("exit %d, want %d:\n%s%s", got, code, out, errOut)
	}
	for _, w := range want {
		if !strings.Contains(out+errOut, w) {
			t.Errorf("output lacks %q:\n%s%s", w, out, errOut)
		}
	}
	for _, a := range absent {
		if strings.Contains(out, a) {
			t.Errorf("output holds %q:\n%s", a, out)
		}
	}
	if code != 0 {
		if out != "" {
			t.Errorf("refused, yet wrote %q", out)
		}
		return ""
	}
	p := filepath.Join(dir, "imported.yaml")
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if v, e, c := ctl(t, dir, "validate", "-f", p); c != 0 {
		t.Errorf("the imported file does not validate: %s %s\n%s", v, e, out)
	}
	return out
}

// TestImportFlaggerStrategies maps each of Flagger's release strategies
// (usage/deployment-strategies.md) and checks the rollout file validates.
func TestImportFlaggerStrategies(t *testing.T) {
	for _, tc := range []struct {
		name, provider, analysis string
		code                     int
		want, absent             []string
	}{
		{"A/B by header regex and Flagger's cookie regex", "istio", `    iterations: 10
    match:
      - headers: {x-canary: {regex: ".*insider.*"}}
      - headers: {cookie: {regex: "^(.*?;)?(canary=always)(;.*)?$"}}
`, 0, []string{"strategy: abtest", "- header: x-canary\n        regex: .*insider.*\n", "- cookie: canary\n        exact: always\n", "iterations: 10\n"}, []string{"stageWeight"}},
		{"A/B exact, prefix and suffix", "istio", `    iterations: 3
    match:
      - headers: {x-user: {exact: "insider"}}
      - headers: {user-agent: {prefix: "Chrome"}}
      - headers: {x-region: {suffix: ".eu"}}
`, 0, []string{"- header: x-user\n        exact: insider\n", "- header: user-agent\n        prefix: Chrome\n", `regex: .*\.eu`, `suffix ".eu" written as the regex`}, nil},
		{"A/B: another cookie regex is a header regex on cookie", "istio", `    iterations: 3
    match:
      - headers: {cookie: {regex: ".*beta.*"}}
`, 0, []string{"- header: cookie\n        regex: .*beta.*\n"}, []string{"- cookie:"}},
		{"A/B: an entry of several conditions is left out, with a note", "istio", `    iterations: 3
    match:
      - headers: {x-a: {exact: "1"}, x-b: {exact: "2"}}
      - headers: {x-canary: {exact: "insider"}}
      - sourceLabels: {app: scheduler}
`, 0, []string{"spec.analysis.match[0] (headers): 2 conditions that must all hold cannot be expressed",
			"spec.analysis.match[2] (sourceLabels): 1 conditions that must all hold cannot be expressed (only headers are mapped)",
			"- header: x-canary\n        exact: insider\n"}, []string{"x-a", "x-b"}},
		{"A/B: no entry left is refused naming the field", "istio", `    iterations: 3
    match:
      - headers: {x-a: {exact: "1"}, x-b: {exact: "2"}}
`, 2, []string{"is an A/B test, but none of spec.analysis.match's 1 entries could be mapped", "spec.analysis.match[0] (headers)"}, nil},
		{"A/B on Gateway API: prefix as a regex", "gatewayapi:v1", `    iterations: 3
    match:
      - headers: {user-agent: {prefix: "Chrome"}}
`, 0, []string{"regex: Chrome.*", "router gatewayapi has no prefix match"}, []string{"prefix: Chrome"}},
		{"A/B on SMI is refused", "smi:v1alpha3", `    iterations: 3
    match:
      - headers: {x-canary: {exact: "insider"}}
`, 2, []string{"router smi can carry none of its matches"}, nil},
		{"blue/green", "istio", `    iterations: 10
`, 0, []string{"strategy: bluegreen", "prePromotion: 10m", "analysed for at least 10 intervals"}, []string{"mirror:", "stageWeight"}},
		{"blue/green with mirroring", "istio", `    iterations: 5
    mirror: true
    mirrorWeight: 40
`, 0, []string{"strategy: bluegreen", "prePromotion: 5m", "mirror: 40\n"}, nil},
		{"blue/green with mirroring, Flagger's default weight", "gatewayapi:v1", `    iterations: 5
    mirror: true
`, 0, []string{"mirror: 100\n"}, nil},
		{"blue/green mirroring on App Mesh is left out", "appmesh", `    iterations: 5
    mirror: true
`, 0, []string{"strategy: bluegreen", "router appmesh cannot mirror; left out"}, []string{"mirror: 100"}},
		{"session affinity", "istio", `    stepWeight: 10
    maxWeight: 50
    sessionAffinity: {cookieName: flagger-cookie, maxAge: 21600}
`, 0, []string{"stageWeight: 10", "sessionAffinity:\n    cookie: flagger-cookie\n    maxAge: 6h\n"}, []string{"strategy:"}},
		{"session affinity on Linkerd is refused", "linkerd", `    stepWeight: 10
    sessionAffinity: {cookieName: flagger-cookie}
`, 2, []string{"session affinity, which router gatewayapi (linkerd) cannot carry"}, nil},
		{"mirroring on a weighted canary is a note", "istio", `    stepWeight: 10
    mirror: true
`, 0, []string{"stageWeight: 10", "spec.analysis.mirror: Flagger mirrors in blue/green (with iterations) only; not mapped"}, []string{"mirror: 100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			importCase(t, "flagger", flaggerCanary(tc.provider, tc.analysis), tc.code, tc.want, tc.absent)
		})
	}
}

// argoTemplate is an AnalysisTemplate with one prometheus metric.
const argoTemplate = `---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  metrics:
    - name: success-rate
      interval: 1m
      count: 5
      successCondition: result[0] >= 0.95
      failureLimit: 2
      provider:
        prometheus:
          address: http://prometheus.example.com:9090
          query: sum(rate(http_requests_total{version="{{version}}",code!~"5.."}[1m])) / sum(rate(http_requests_total{version="{{version}}"}[1m]))
`

// TestImportArgoStrategies maps Argo Rollouts' blueGreen strategy and the
// canary steps setHeaderRoute and setMirrorRoute (features/bluegreen.md,
// features/traffic-management/index.md) and checks the file validates.
func TestImportArgoStrategies(t *testing.T) {
	rollout := func(strategy string) string {
		return `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop, namespace: web}
spec:
  replicas: 4
  strategy:
` + strategy + argoTemplate
	}
	istio := `      canaryService: shop-canary
      stableService: shop-stable
      trafficRouting:
        istio: {virtualService: {name: shop, routes: [primary]}}
`
	for _, tc := range []struct {
		name, strategy string
		code           int
		want, absent   []string
	}{
		{"blueGreen with both analyses, a manual promotion and a delay", `    blueGreen:
      activeService: shop-active
      previewService: shop-preview
      autoPromotionEnabled: false
      scaleDownDelaySeconds: 600
      prePromotionAnalysis: {templates: [{templateName: success-rate}]}
      postPromotionAnalysis: {templates: [{templateName: success-rate}]}
      previewReplicaCount: 1
`, 0, []string{"strategy: bluegreen", "prePromotion: 5m\n", "postPromotion: 5m\n", "scaleDownDelay: 10m\n", "beforePromotion: true",
			"service: shop-active\n", "replicaRatio:", "replicas: 4\n", "postPromotion:\n    - threshold:", "min: 0.95",
			`previewService "shop-preview": no preview route is written`, "spec.strategy.blueGreen.previewReplicaCount"}, nil},
		{"blueGreen with autoPromotionSeconds and Argo's default delay", `    blueGreen:
      activeService: shop-active
      autoPromotionSeconds: 120
`, 0, []string{"prePromotion: 2m\n", "scaleDownDelay: 30s\n"}, []string{"beforePromotion"}},
		{"blueGreen without activeService", `    blueGreen: {previewService: shop-preview}
`, 2, []string{"names no activeService"}, nil},
		{"setHeaderRoute with no weight is an A/B test", `    canary:
` + istio + `      steps:
        - setHeaderRoute:
            name: header-1
            match:
              - {headerName: Custom-Header1, headerValue: {exact: Mozilla}}
              - {headerName: Custom-Header2, headerValue: {prefix: Mozilla}}
              - {headerName: Custom-Header3, headerValue: {regex: "Mozilla(.*)"}}
        - pause: {duration: 10m}
        - setHeaderRoute: {name: header-1}
`, 0, []string{"strategy: abtest", "- header: custom-header1\n        exact: Mozilla\n", "- header: custom-header2\n        prefix: Mozilla\n",
			"- header: custom-header3\n        regex: Mozilla(.*)\n", "iterations: 10\n"}, nil},
		{"setHeaderRoute beside weights is a note", `    canary:
` + istio + `      steps:
        - setWeight: 20
        - setHeaderRoute:
            name: header-1
            match: [{headerName: x-canary, headerValue: {exact: "yes"}}]
        - pause: {duration: 1h}
`, 0, []string{"- weight: 20", "setHeaderRoute: a header route beside weighted steps is not mapped"}, []string{"abTest"}},
		{"setMirrorRoute with no weight is blue/green with mirroring", `    canary:
` + istio + `      steps:
        - setMirrorRoute:
            name: mirror-1
            percentage: 35
            match: [{method: {exact: GET}}]
        - pause: {duration: 15m}
`, 0, []string{"strategy: bluegreen", "mirror: 35\n", "prePromotion: 15m\n", "setMirrorRoute.match: not mapped; 35 % of every request"}, nil},
		{"setMirrorRoute before the first weight is a zero-traffic mirror", `    canary:
` + istio + `      steps:
        - setMirrorRoute: {name: mirror-1, percentage: 20}
        - pause: {duration: 5m}
        - setWeight: 10
        - pause: {duration: 5m}
`, 0, []string{"zeroTraffic:\n    duration: 5m\n    mirror: 20\n", "- weight: 10"}, []string{"strategy:"}},
		{"setHeaderRoute with no router is refused", `    canary:
      steps:
        - setHeaderRoute:
            name: header-1
            match: [{headerName: x-canary, headerValue: {exact: "yes"}}]
`, 2, []string{"router replicaRatio can carry none of its matches"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			importCase(t, "argo", rollout(tc.strategy), tc.code, tc.want, tc.absent)
		})
	}
}

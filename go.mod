module github.com/meshcanary/canary

go 1.26

require (
	github.com/DataDog/datadog-api-client-go/v2 v2.67.0 // indirect
	github.com/newrelic/newrelic-client-go/v2 v2.97.7 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/common v0.73.1 // indirect
	istio.io/api v1.31.4 // indirect
	istio.io/client-go v1.31.4 // indirect
	k8s.io/api v0.37.2 // indirect
	k8s.io/apimachinery v0.37.2 // indirect
	k8s.io/client-go v0.37.2 // indirect
	sigs.k8s.io/gateway-api v1.6.3 // indirect
)

module github.com/meshcanary/canary/examples/canaryctl

go 1.26.0

require github.com/meshcanary/canary v0.1.0

require gopkg.in/yaml.v3 v3.0.1

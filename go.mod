module github.com/meshcanary/canary

go 1.26.0

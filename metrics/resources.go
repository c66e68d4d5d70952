package metrics

// ResourceQueries are templates for the resource use of one workload's
// version, each the version's total over its pods: render them with
// [Vars]{Namespace, Workload, Version} (and Window where the dialect needs
// it) and judge them with analysis.Resources (CPU per request, memory per
// replica, restarts and OOM kills as faults). Each driver with built-in
// resource templates builds them in its own dialect with its
// ResourceTemplates function, whose documentation gives the metrics read
// and their units; analysis.Resources compares the canary's figures with
// stable's, so a unit common to both does not matter.
type ResourceQueries struct {
	// CPU is the CPU the version's containers use.
	CPU Template
	// Memory is the version's working set in bytes.
	Memory Template
	// Restarts is the version's container restarts.
	Restarts Template
	// OOMKills is the version's out-of-memory kills.
	OOMKills Template
	// Replicas is the number of the version's pods.
	Replicas Template
}

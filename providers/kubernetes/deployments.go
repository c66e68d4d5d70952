package kubernetes

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kuberoute"
	"github.com/meshcanary/canary/workload"
)

// ErrNotFound is matched by the error for a Deployment that does not exist.
// Its code is [canary.NotFound].
var ErrNotFound = canary.NewError(canary.NotFound, "kubernetes: deployment not found")

// Deployments scales and checks the stable and the canary Deployment of one
// namespace. Create it with NewDeployments; the zero value is not usable.
// It is safe for concurrent use.
type Deployments struct {
	client    k8s.Interface
	namespace string
	names     map[workload.Version]string
}

var (
	_ workload.Scaler    = (*Deployments)(nil)
	_ workload.Readiness = (*Deployments)(nil)
)

// DeploymentsConfig configures [Deployments]: the namespace and the names
// of the two Deployments. Every field is required.
type DeploymentsConfig struct {
	// Namespace holds both Deployments.
	Namespace string
	// Stable and Canary are the Deployments' names; they must differ.
	Stable, Canary string
}

// NewDeployments returns a Deployments over cfg.Namespace/cfg.Stable and
// cfg.Namespace/cfg.Canary. It checks the names but sends no request; a
// bad name is a [*canary.FieldError] on DeploymentsConfig.Namespace,
// .Stable or .Canary.
func NewDeployments(client k8s.Interface, cfg DeploymentsConfig) (*Deployments, error) {
	if client == nil {
		return nil, canary.Invalid("Client", nil, "must not be nil")
	}
	if errs := validation.IsDNS1123Label(cfg.Namespace); len(errs) > 0 {
		return nil, canary.Invalid("DeploymentsConfig.Namespace", cfg.Namespace, "%s", errs[0])
	}
	if errs := validation.IsDNS1123Subdomain(cfg.Stable); len(errs) > 0 {
		return nil, canary.Invalid("DeploymentsConfig.Stable", cfg.Stable, "%s", errs[0])
	}
	if errs := validation.IsDNS1123Subdomain(cfg.Canary); len(errs) > 0 {
		return nil, canary.Invalid("DeploymentsConfig.Canary", cfg.Canary, "%s", errs[0])
	}
	if cfg.Stable == cfg.Canary {
		return nil, canary.Invalid("DeploymentsConfig.Canary", cfg.Canary, "must differ from the stable Deployment")
	}
	return &Deployments{client: client, namespace: cfg.Namespace, names: map[workload.Version]string{
		workload.Stable: cfg.Stable, workload.Canary: cfg.Canary,
	}}, nil
}

func (d *Deployments) name(v workload.Version) (string, error) {
	n, ok := d.names[v]
	if !ok {
		return "", canary.Invalid("Version", v, "must be %q or %q", workload.Stable, workload.Canary)
	}
	return n, nil
}

func (d *Deployments) get(ctx context.Context, v workload.Version) (*appsv1.Deployment, error) {
	name, err := d.name(v)
	if err != nil {
		return nil, err
	}
	dep, err := d.client.AppsV1().Deployments(d.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, d.wrap(v, name, err)
	}
	return dep, nil
}

func (d *Deployments) wrap(v workload.Version, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s deployment %s/%s: %w: %w", v, d.namespace, name, ErrNotFound, err)
	}
	// Classified once ([canary.Code]); the *apierrors.StatusError stays
	// reachable with errors.As.
	return fmt.Errorf("%s deployment %s/%s: %w", v, d.namespace, name, kuberoute.Wrap(err))
}

// specReplicas is spec.replicas with the API's default of 1 for nil.
func specReplicas(dep *appsv1.Deployment) int32 {
	if dep.Spec.Replicas == nil {
		return 1
	}
	return *dep.Spec.Replicas
}

// Replicas reports spec.replicas of v's Deployment (1 when unset, as the
// API server defaults it).
func (d *Deployments) Replicas(ctx context.Context, v workload.Version) (int32, error) {
	dep, err := d.get(ctx, v)
	if err != nil {
		return 0, err
	}
	return specReplicas(dep), nil
}

// Scale sets spec.replicas of v's Deployment to n. It retries a conflict
// with a fresh read (client-go's retry.DefaultRetry: 5 attempts) and
// writes nothing when the Deployment already asks for n.
func (d *Deployments) Scale(ctx context.Context, v workload.Version, n int32) error {
	if n < 0 {
		return canary.Invalid("Replicas", n, "must not be negative")
	}
	name, err := d.name(v)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil { // before any request, whatever the client does with ctx
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := d.get(ctx, v)
		if err != nil {
			return err
		}
		if specReplicas(dep) == n {
			return nil
		}
		patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"spec":{"replicas":%d}}`, dep.ResourceVersion, n)
		_, err = d.client.AppsV1().Deployments(d.namespace).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: canary.FieldManager})
		if err != nil {
			return d.wrap(v, name, err)
		}
		return nil
	})
}

// Ready reports whether v's Deployment has rolled out completely, with the
// reason when it has not.
func (d *Deployments) Ready(ctx context.Context, v workload.Version) (bool, string, error) {
	dep, err := d.get(ctx, v)
	if err != nil {
		return false, "", err
	}
	ready, reason := deploymentReady(dep)
	return ready, reason, nil
}

func deploymentReady(dep *appsv1.Deployment) (bool, string) {
	st := dep.Status
	want := specReplicas(dep)
	if st.ObservedGeneration < dep.Generation {
		return false, fmt.Sprintf("generation %d not yet observed by the controller (observed %d)", dep.Generation, st.ObservedGeneration)
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return false, fmt.Sprintf("progress deadline exceeded: %s", c.Message)
		}
	}
	switch {
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < want:
		return false, fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, want)
	}
	return true, ""
}

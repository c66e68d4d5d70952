package istio

import (
	"context"

	"encoding/json"
	"fmt"
	"github.com/meshcanary/canary"
	"slices"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func (r *Driver) ensureSubsetsOnce(ctx context.Context) error {
	r.mu.Lock()
	ok := r.subsetsOK
	r.mu.Unlock()
	if ok {
		return nil
	}
	return r.EnsureSubsets(ctx)
}

// subsetsNeeded lists the destinations that name a subset.
func (r *Driver) subsetsNeeded() []Destination {
	var ds []Destination
	for _, d := range []Destination{r.cfg.Stable, r.cfg.Canary} {
		if d.Subset != "" {
			ds = append(ds, d)
		}
	}
	return ds
}

func (r *Driver) drErr(name, field string, err error, format string, args ...any) *ObjectError {
	return &ObjectError{Kind: "DestinationRule", Namespace: r.cfg.Namespace, Name: name,
		Field: field, Reason: fmt.Sprintf(format, args...), Err: err}
}

// EnsureSubsets checks that the DestinationRule subsets the router routes
// to exist, creating the DestinationRule or adding the missing subsets when
// Config.CreateSubsets is set. A missing subset otherwise gives an
// *ObjectError wrapping ErrSubsetMissing. In host mode it does nothing.
//
// SetSplit calls it before its first write; once it has succeeded the
// Router does not check again.
func (r *Driver) EnsureSubsets(ctx context.Context) error {
	need := r.subsetsNeeded()
	if len(need) == 0 {
		return r.subsetsDone()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	drs := r.client.NetworkingV1().DestinationRules(r.cfg.Namespace)
	if r.cfg.DestinationRule == "" {
		list, err := drs.List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("istio: list DestinationRules in %s: %w", r.cfg.Namespace, err)
		}
		for _, d := range need {
			var have []string
			for _, dr := range list.Items {
				if r.cfg.fqdn(dr.Spec.Host) == r.cfg.fqdn(d.Host) {
					have = append(have, subsetNames(dr)...)
				}
			}
			if !slices.Contains(have, d.Subset) {
				return r.drErr("", "spec.subsets", ErrSubsetMissing,
					"no DestinationRule for host %q has a subset %q (found: %s); add it, or set Config.DestinationRule and Config.CreateSubsets",
					d.Host, d.Subset, listOrNone(have))
			}
		}
		return r.subsetsDone()
	}
	name := r.cfg.DestinationRule
	for attempt := 0; attempt <= r.cfg.retries(); attempt++ {
		dr, err := drs.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && r.cfg.CreateSubsets {
			_, err = drs.Create(ctx, r.newDestinationRule(need), metav1.CreateOptions{FieldManager: canary.FieldManager})
			if apierrors.IsAlreadyExists(err) {
				continue // someone else created it meanwhile: check theirs
			}
			if err != nil {
				return fmt.Errorf("istio: create DestinationRule %s/%s: %w", r.cfg.Namespace, name, err)
			}
			return r.subsetsDone()
		}
		if apierrors.IsNotFound(err) {
			return r.drErr(name, "metadata.name", ErrSubsetMissing, "does not exist; create it with subsets %s, or set Config.CreateSubsets", r.subsetList(need))
		}
		if err != nil {
			return fmt.Errorf("istio: get DestinationRule %s/%s: %w", r.cfg.Namespace, name, err)
		}
		if r.cfg.fqdn(dr.Spec.Host) != r.cfg.fqdn(need[0].Host) {
			return r.drErr(name, "spec.host", nil, "is %q, but the subsets belong to host %q", dr.Spec.Host, need[0].Host)
		}
		have := subsetNames(dr)
		ops := []patchOp{{"add", "/metadata/resourceVersion", dr.ResourceVersion}}
		if len(dr.Spec.Subsets) == 0 {
			ops = append(ops, patchOp{"add", "/spec/subsets", []any{}})
		}
		var missing []string
		for _, d := range need {
			if !slices.Contains(have, d.Subset) {
				missing = append(missing, d.Subset)
				ops = append(ops, patchOp{"add", "/spec/subsets/-", r.subset(d)})
			}
		}
		if len(missing) == 0 {
			return r.subsetsDone()
		}
		if !r.cfg.CreateSubsets {
			return r.drErr(name, "spec.subsets", ErrSubsetMissing, "has no subset %s (found: %s); add it, or set Config.CreateSubsets",
				strings.Join(quote(missing), ", "), listOrNone(have))
		}
		body, err := json.Marshal(ops)
		if err != nil {
			return err
		}
		_, err = drs.Patch(ctx, name, types.JSONPatchType, body, metav1.PatchOptions{FieldManager: canary.FieldManager})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("istio: add subsets %s to DestinationRule %s/%s: %w", strings.Join(quote(missing), ", "), r.cfg.Namespace, name, err)
		}
		return r.subsetsDone()
	}
	return fmt.Errorf("istio: DestinationRule %s/%s kept changing while subsets were added; try again", r.cfg.Namespace, name)
}

func (r *Driver) subsetsDone() error {
	r.mu.Lock()
	r.subsetsOK = true
	r.mu.Unlock()
	return nil
}

func (r *Driver) subset(d Destination) *networkingv1alpha3.Subset {
	return &networkingv1alpha3.Subset{Name: d.Subset, Labels: map[string]string{r.cfg.versionLabel(): d.labelValue()}}
}

func (r *Driver) newDestinationRule(need []Destination) *networkingv1.DestinationRule {
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: r.cfg.DestinationRule, Namespace: r.cfg.Namespace}}
	dr.Spec.Host = need[0].Host
	for _, d := range need {
		dr.Spec.Subsets = append(dr.Spec.Subsets, r.subset(d))
	}
	return dr
}

func (r *Driver) subsetList(need []Destination) string {
	var s []string
	for _, d := range need {
		s = append(s, fmt.Sprintf("%q (%s=%s)", d.Subset, r.cfg.versionLabel(), d.labelValue()))
	}
	return strings.Join(s, ", ")
}

func subsetNames(dr *networkingv1.DestinationRule) []string {
	var names []string
	for _, s := range dr.Spec.Subsets {
		if s != nil {
			names = append(names, s.Name)
		}
	}
	return names
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func listOrNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(quote(ss), ", ")
}

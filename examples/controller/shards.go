package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/meshcanary/canary/providers/kubernetes"
)

var everything = labels.Everything()

// shards is this replica's side of the sharding: one coordination.k8s.io
// Lease per shard ("meshcanary-shard-<i>" in Config.LeaseNamespace),
// contested with client-go's leaderelection by every replica. A rollout
// belongs to shard fnv32a(namespace/name) mod Shards, so it has one driver
// at a time: the holder of its shard's Lease. A replica that dies stops
// renewing; another takes the Lease once LeaseDuration has passed since
// the last renewal. A replica that loses its Lease without noticing (a
// partition) may still try to write; the store's compare-and-swap refuses
// its write once the new holder has saved (fencing), and its shard context
// is cancelled when its own renewal deadline passes. The Leases are written
// through [kubernetes.LeaseLock], which names the field manager
// "meshcanary" on every write (client-go's resourcelock.LeaseLock names
// none).
type shards struct {
	o        Config
	acquired func(int)
	lost     func(int)

	mu      sync.Mutex
	held    map[int]context.Context
	release map[int]context.CancelFunc // ends a shard's election (and gives the Lease up)
}

func newShards(o Config, acquired, lost func(int)) *shards {
	return &shards{o: o, acquired: acquired, lost: lost, held: map[int]context.Context{}, release: map[int]context.CancelFunc{}}
}

// of returns the shard of a rollout's key.
func (s *shards) of(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(s.o.Shards))
}

// held returns the shard's context while this replica holds its Lease.
func (s *shards) heldCtx(shard int) (context.Context, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, ok := s.held[shard]
	if ok && ctx.Err() != nil {
		return nil, false
	}
	return ctx, ok
}

// Held returns the shards this replica holds.
func (s *shards) Held() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for i := range s.o.Shards {
		if ctx, ok := s.held[i]; ok && ctx.Err() == nil {
			out = append(out, i)
		}
	}
	return out
}

func metaFor(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

func leaseName(shard int) string { return fmt.Sprintf("meshcanary-shard-%d", shard) }

// run contests every shard's Lease until ctx ends.
func (s *shards) run(ctx context.Context) {
	ld, rd, rp := s.o.LeaseDuration, s.o.RenewDeadline, s.o.RetryPeriod
	if ld <= 0 {
		ld = 15 * time.Second
	}
	if rd <= 0 {
		rd = 10 * time.Second
	}
	if rp <= 0 {
		rp = 2 * time.Second
	}
	var wg sync.WaitGroup
	if s.o.Balance {
		wg.Add(1)
		go func() { defer wg.Done(); s.balance(ctx, ld, rd, rp) }()
	}
	for i := range s.o.Shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				ectx, cancel := context.WithCancel(ctx)
				s.mu.Lock()
				s.release[i] = cancel
				s.mu.Unlock()
				lock := &kubernetes.LeaseLock{
					LeaseMeta:  metaFor(s.o.LeaseNamespace, leaseName(i)),
					Client:     s.o.Kube.CoordinationV1(),
					LockConfig: resourcelock.ResourceLockConfig{Identity: s.o.Identity},
				}
				le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
					Lock: lock, LeaseDuration: ld, RenewDeadline: rd, RetryPeriod: rp,
					ReleaseOnCancel: true, Name: leaseName(i),
					Callbacks: leaderelection.LeaderCallbacks{
						OnStartedLeading: func(lctx context.Context) {
							s.mu.Lock()
							s.held[i] = lctx
							s.mu.Unlock()
							s.acquired(i)
							<-lctx.Done()
						},
						OnStoppedLeading: func() {
							s.mu.Lock()
							_, had := s.held[i]
							delete(s.held, i)
							s.mu.Unlock()
							if had {
								s.lost(i)
							}
						},
					},
				})
				if err != nil {
					cancel()
					s.o.Log.Error("leader election", "shard", i, "err", err)
					return
				}
				le.Run(ectx) // returns when the Lease is lost, given up, or ctx ends
				voluntary := ectx.Err() != nil && ctx.Err() == nil
				cancel()
				if voluntary {
					// Given up to balance: let another replica take it
					// before contesting it again.
					sleep(ctx, 2*rp)
				}
			}
		}()
	}
	wg.Wait()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func memberLeaseName(identity string) string { return "meshcanary-member-" + identity }

// balance spreads the shards over the live replicas (Config.Balance).
// Each replica keeps a member Lease of its own renewed by leaderelection;
// every retry period it lists the Leases, counts the live members (member
// Leases renewed within their duration) and, holding more than
// ceil(shards/members), gives one shard up (its Lease is released, so
// another replica takes it at its next try). Contesting stays
// unconditional, so a dead replica's shards still move within the lease
// duration; balancing only moves shards off a replica that has too many.
func (s *shards) balance(ctx context.Context, ld, rd, rp time.Duration) {
	go func() {
		for ctx.Err() == nil {
			le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
				Lock: &kubernetes.LeaseLock{LeaseMeta: metaFor(s.o.LeaseNamespace, memberLeaseName(s.o.Identity)),
					Client: s.o.Kube.CoordinationV1(), LockConfig: resourcelock.ResourceLockConfig{Identity: s.o.Identity}},
				LeaseDuration: ld, RenewDeadline: rd, RetryPeriod: rp, ReleaseOnCancel: true, Name: memberLeaseName(s.o.Identity),
				Callbacks: leaderelection.LeaderCallbacks{OnStartedLeading: func(c context.Context) { <-c.Done() }, OnStoppedLeading: func() {}},
			})
			if err != nil {
				s.o.Log.Error("member lease", "err", err)
				return
			}
			le.Run(ctx)
		}
	}()
	t := time.NewTicker(rp)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l, err := s.o.Kube.CoordinationV1().Leases(s.o.LeaseNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		members := 0
		now := time.Now()
		for _, x := range l.Items {
			if !strings.HasPrefix(x.Name, "meshcanary-member-") || x.Spec.HolderIdentity == nil || *x.Spec.HolderIdentity == "" ||
				x.Spec.RenewTime == nil || x.Spec.LeaseDurationSeconds == nil {
				continue
			}
			if x.Spec.RenewTime.Add(time.Duration(*x.Spec.LeaseDurationSeconds) * time.Second).After(now) {
				members++
			}
		}
		if members == 0 {
			continue
		}
		fair := (s.o.Shards + members - 1) / members
		held := s.Held()
		if len(held) <= fair {
			continue
		}
		give := held[len(held)-1]
		s.o.Log.Info("giving a shard up to balance", "shard", give, "held", len(held), "fair", fair, "members", members)
		s.mu.Lock()
		cancel := s.release[give]
		s.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	}
}

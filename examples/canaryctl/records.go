package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/spec"
	"github.com/meshcanary/canary/store"
)

// The store holds three records per rollout, each written whole with
// compare-and-swap (so a reader never sees half a record, and a stale
// writer is refused):
//
//	<name>           the rollout: its spec, the rollback snapshot, the
//	                 status and the audit trail's head (anchor)
//	<name>.commands  operator commands waiting for the driver, and the
//	                 results of the last ones it applied
//	<name>.audit     the audit trail: chained JSON lines (rollback's
//	                 NewChainedJSONLines format)
//
// Only the driver (canaryctl run) writes <name> and <name>.audit; the
// operator commands append to <name>.commands.

// rolloutRecord is the <name> record.
type rolloutRecord struct {
	Spec     *spec.Rollout   `json:"spec"`
	Snapshot json.RawMessage `json:"snapshot"`
	Status   rollback.Status `json:"status"`
	// Stages are the plan's weights, for the display of the next stage.
	Stages []int `json:"stages"`
	// OldSteps is the same list as written by canaryctl before it said
	// "stage" everywhere; read only, for records of that version.
	OldSteps []int      `json:"steps,omitempty"`
	Driver   driverInfo `json:"driver"`
	// Audit anchors the trail: how many lines it had and its last chain
	// when the record was written, so a truncated trail shows.
	Audit auditHead `json:"audit"`
	// Applied marks the operator commands already applied to Snapshot. It
	// is written in the same compare-and-swap as the state they changed,
	// so that a driver that crashes after applying commands but before
	// clearing them from <name>.commands does not apply them again when
	// it resumes: it skips them and only moves their results to Done.
	Applied appliedCommands `json:"applied"`
	Updated time.Time       `json:"updated"`
	// Archived is set by canaryctl archive before it moves the records
	// aside: no driver takes the rollout up again.
	Archived *archiveInfo `json:"archived,omitempty"`
}

// stages returns the plan's weights, from either version of the record.
func (r rolloutRecord) stages() []int {
	if len(r.Stages) > 0 {
		return r.Stages
	}
	return r.OldSteps
}

// archiveInfo says who archived a rollout, when, why and under which name.
type archiveInfo struct {
	As     string    `json:"as"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
	Forced bool      `json:"forced,omitempty"`
	At     time.Time `json:"at"`
}

// appliedCommands is the rollout record's mark of the operator commands
// applied.
type appliedCommands struct {
	// Through is the highest command id applied. Ids grow by one in queue
	// order and the driver applies a queue's commands in that order, so
	// every queued command with an id up to Through has been applied.
	Through int `json:"through,omitempty"`
	// Results are the results of the last commands applied, until they
	// are in <name>.commands' Done.
	Results []result `json:"results,omitempty"`
}

type driverInfo struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
	// Seen is when the driver last wrote the record (at least every
	// heartbeat while it lives).
	Seen time.Time `json:"seen,omitzero"`
}

type auditHead struct {
	Lines int    `json:"lines"`
	Last  string `json:"last,omitempty"`
}

// command is an operator's request for the driver.
type command struct {
	ID     int       `json:"id"`
	Op     string    `json:"op"` // pause, resume, promote, abort, set-weight, approve
	Weight int       `json:"weight,omitempty"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// result is what the driver did with a command.
type result struct {
	ID    int             `json:"id"`
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	After rollback.Status `json:"after"`
	At    time.Time       `json:"at"`
}

// commandsRecord is the <name>.commands record.
type commandsRecord struct {
	NextID int       `json:"nextID"`
	Queue  []command `json:"queue"`
	Done   []result  `json:"done"` // the last maxDone results
}

const maxDone = 50

func commandsKey(name string) string { return name + ".commands" }
func auditKey(name string) string    { return name + ".audit" }

// rolloutStore is the store canaryctl keeps rollouts in, and where it
// is, for messages.
type rolloutStore struct {
	store.Store
	where string
}

// kubeStorePrefix starts a --store that names a Kubernetes namespace.
const kubeStorePrefix = "k8s:"

// kubeConfigMapPrefix starts the names of the ConfigMaps canaryctl keeps
// rollouts in: canaryctl-NAME, canaryctl-NAME.commands, canaryctl-NAME.audit.
const kubeConfigMapPrefix = "canaryctl-"

// openStore opens the store named by loc: a directory (store.File), or
// k8s:NAMESPACE (kubernetes.ConfigMapStore, reached with loc's
// kubeconfig). A directory that does not exist is an error unless create
// (for run); a namespace must exist, and the API server must answer,
// before anything is written.
func openStore(ctx context.Context, loc *storeLoc, create bool) (rolloutStore, error) {
	dir := strings.TrimSpace(loc.store)
	if dir == "" {
		return rolloutStore{}, fmt.Errorf("no store: give --store DIR or --store k8s:NAMESPACE, or set CANARYCTL_STORE")
	}
	if ns, ok := strings.CutPrefix(dir, kubeStorePrefix); ok {
		return openKubeStore(ctx, ns, loc.kubeconfig)
	}
	if !create {
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() {
			return rolloutStore{}, fmt.Errorf("store %s does not exist (start the rollout with canaryctl run --store %s)", dir, dir)
		}
	}
	st, err := store.NewFile(dir)
	if err != nil {
		return rolloutStore{}, err
	}
	return rolloutStore{Store: st, where: st.Dir()}, nil
}

func loadJSON[T any](ctx context.Context, s store.Store, key string) (T, string, error) {
	var v T
	b, ver, err := s.Load(ctx, key)
	if err != nil {
		return v, "", err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, "", fmt.Errorf("store record %s is not readable: %w", key, err)
	}
	return v, ver, nil
}

func saveJSON(ctx context.Context, s store.Store, key string, v any, prev string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return s.Save(ctx, key, b, prev)
}

// loadRolloutRecord loads the <name> record with a message for people
// when it is missing.
func loadRolloutRecord(ctx context.Context, s rolloutStore, name string) (rolloutRecord, string, error) {
	if err := store.ValidKey("rollout name", name); err != nil {
		return rolloutRecord{}, "", err
	}
	rec, ver, err := loadJSON[rolloutRecord](ctx, s, name)
	if errors.Is(err, store.ErrNotFound) {
		return rec, "", fmt.Errorf("no rollout %q in store %s", name, s.where)
	}
	return rec, ver, err
}

// enqueue appends c to the rollout's command queue with compare-and-swap,
// retrying when another operator wrote first, and returns its id.
func enqueue(ctx context.Context, s store.Store, name string, c command) (int, error) {
	for range 20 {
		rec, ver, err := loadJSON[commandsRecord](ctx, s, commandsKey(name))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
		rec.NextID++
		c.ID = rec.NextID
		rec.Queue = append(rec.Queue, c)
		if _, err := saveJSON(ctx, s, commandsKey(name), rec, ver); err == nil {
			return c.ID, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return 0, err
		}
	}
	return 0, fmt.Errorf("the command queue of %s kept changing; try again", name)
}

// openRollout opens the store at loc (which must exist) and reads the
// record of rollout name; either failure is a usage error.
func openRollout(e env, loc *storeLoc, name string) (rolloutStore, rolloutRecord, error) {
	st, err := openStore(e.ctx, loc, false)
	if err != nil {
		return st, rolloutRecord{}, usageErr(err)
	}
	rec, _, err := loadRolloutRecord(e.ctx, st, name)
	if err != nil {
		return st, rolloutRecord{}, usageErr(err)
	}
	return st, rec, nil
}

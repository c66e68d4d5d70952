// Command canaryctl is a platform team's CLI on the meshcanary library:
// rollouts written as YAML files, driven with live progress, steered from
// other terminals, audited, backtested, reported and imported from Flagger
// and Argo Rollouts.
//
//	canaryctl run -f rollout.yaml            drive a rollout (live progress)
//	canaryctl status NAME                    where it stands
//	canaryctl pause|resume|promote|abort|approve NAME --actor A --reason R
//	canaryctl set-weight NAME --weight N --actor A --reason R
//	canaryctl archive NAME [--force --reason R]  set a finished rollout aside
//	canaryctl history NAME                   the audit trail for people
//	canaryctl verify NAME                    check the audit trail's chain
//	canaryctl validate -f rollout.yaml       lint a rollout file
//	canaryctl backtest -f rollout.yaml --csv data.csv
//	canaryctl backtest -f rollout.yaml --prometheus URL --from T --to T
//	canaryctl report NAME -o report.html     HTML page and SVG chart (--png: PNG)
//	canaryctl import flagger canary.yaml
//	canaryctl import argo analysistemplate.yaml rollout.yaml
//	canaryctl advise --rps 50 --error-rate 1% [-f rollout.yaml]
//
// Rollouts live in a store directory (--store, or CANARYCTL_STORE, or
// ./.canaryctl) shared by every canaryctl on the machine, or, with --store
// k8s:NAMESPACE, in ConfigMaps of a Kubernetes namespace shared by every
// canaryctl that reaches the cluster: run keeps the rollout there, and the
// operator commands queue their requests there for run to apply at its
// next poll.
//
// Every outcome has its own exit status (the table exitCodes, printed by
// canaryctl help): 0 done, 1 rolled back, 2 bad input, 3 queued but not
// applied, 4 finished already, 5 stopped before the end, 6 refused, 7 the
// audit trail does not verify, 8 another driver holds the rollout, 9 the
// store, the router or another system failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // Europe/London on machines without a zone database
)

// exitError carries an exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// The exit statuses, one per outcome.
const (
	exitOK         = 0 // done: the rollout was promoted, the command applied
	exitRolledBack = 1 // the rollout rolled back
	exitBadInput   = 2 // bad input: nothing was written
	exitQueued     = 3 // the command was queued, but no driver applied it in time
	exitFinished   = 4 // the rollout has finished already
	exitStopped    = 5 // run stopped before the end (Ctrl-C, SIGTERM, --timeout)
	exitRefused    = 6 // the rollout refused the command
	exitTampered   = 7 // the audit trail does not verify
	exitHeld       = 8 // another driver holds the rollout
	exitFailed     = 9 // the store, the router or another system failed
)

// exitCodes is the table of exit statuses, for the help and the README.
const exitCodes = `Exit status (one per outcome):
  0  done: run promoted the canary; a command was applied; a check passed
  1  run: the rollout rolled back
  2  bad input (a file, a flag, a name, a missing store): nothing written
  3  the command was queued, but no driver applied it within --wait
     (it stays queued until canaryctl run resumes the rollout)
  4  the rollout has finished already: archive it (canaryctl archive NAME)
     or deploy under a new run key (the rollout file's name)
  5  run stopped before the end (Ctrl-C, SIGTERM, --timeout); the rollout
     is kept in the store and run resumes it
  6  the rollout refused the command (for example a weight above the plan)
  7  verify: the audit trail does not verify (edited, truncated)
  8  another driver holds the rollout (or took it over meanwhile)
  9  the store, the router or another system failed
`

func fail(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// usageErr marks bad input (exit 2).
func usageErr(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: exitBadInput, err: err}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	tty    bool
}

var commands = map[string]func(e env, args []string) error{
	"run":        cmdRun,
	"status":     cmdStatus,
	"pause":      operator("pause"),
	"resume":     operator("resume"),
	"promote":    operator("promote"),
	"abort":      operator("abort"),
	"approve":    operator("approve"),
	"set-weight": operator("set-weight"),
	"archive":    cmdArchive,
	"history":    cmdHistory,
	"verify":     cmdVerify,
	"validate":   cmdValidate,
	"backtest":   cmdBacktest,
	"report":     cmdReport,
	"import":     cmdImport,
	"advise":     cmdAdvise,
	"serve":      cmdServe,
}

const usage = `usage: canaryctl COMMAND [flags]

  run -f rollout.yaml            drive a rollout with live progress
  status NAME                    where a rollout stands
  pause|resume|promote|abort|approve NAME --actor A --reason R
  set-weight NAME --weight N --actor A --reason R
                                 abort acts on the router itself when no
                                 driver holds the rollout
  archive NAME [--force --reason R]
                                 set a finished rollout aside (to
                                 NAME.archived.TIME) so NAME can run again
  history NAME [--tz ZONE]       the audit trail (Europe/London times unless
                                 --tz names a zone; so do the other commands
                                 that show times)
  verify NAME                    check the audit trail's chain
  validate -f rollout.yaml       lint a rollout file
  backtest -f rollout.yaml --csv data.csv
  backtest -f rollout.yaml --prometheus URL --from TIME --to TIME
  report NAME -o report.html [--svg F] [--png F]
                                 timeline report (HTML + SVG chart; PNG too)
  serve --route M:ROLLOUT:ACTION --token-file F
                                 receive Alertmanager webhooks: firing alerts
                                 pause or roll back rollouts, once each
  import flagger canary.yaml     a Flagger Canary as a rollout file
  import argo analysistemplate.yaml rollout.yaml
  advise --rps N --error-rate R [-f rollout.yaml | --stages 10,20,30 --interval 1m]
                                 expected minutes to promote and to roll back

Rollouts are kept in --store DIR (default $CANARYCTL_STORE or ./.canaryctl),
or with --store k8s:NAMESPACE in the ConfigMaps canaryctl-NAME,
canaryctl-NAME.commands and canaryctl-NAME.audit of that namespace (which
must exist), reached with --kubeconfig FILE (default $KUBECONFIG, then
~/.kube/config).

` + exitCodes

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "canaryctl: unknown command %q (see canaryctl help)\n", args[0])
		return 2
	}
	tty := false
	if f, ok := stdout.(*os.File); ok {
		tty = isTerminal(f)
	}
	err := cmd(env{ctx: ctx, stdout: stdout, stderr: stderr, tty: tty}, args[1:])
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := exitCode(err)
	fmt.Fprintf(stderr, "canaryctl %s: %s\n", args[0], strings.ReplaceAll(err.Error(), "\n", " "))
	return code
}

// storeLoc is where the store is: the --store and --kubeconfig flags.
type storeLoc struct {
	store      string
	kubeconfig string
}

// flags returns a FlagSet for a subcommand with the common --store and
// --kubeconfig flags.
func flags(name string, e env) (*flag.FlagSet, *storeLoc) {
	fs := flag.NewFlagSet("canaryctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	def := os.Getenv("CANARYCTL_STORE")
	if def == "" {
		def = ".canaryctl"
	}
	loc := &storeLoc{}
	fs.StringVar(&loc.store, "store", def, "store: a directory, or k8s:NAMESPACE for ConfigMaps in that namespace")
	fs.StringVar(&loc.kubeconfig, "kubeconfig", "", "kubeconfig for a k8s: store (default $KUBECONFIG, then ~/.kube/config)")
	return fs, loc
}

// parse parses flags and positional arguments in any order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func oneName(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usageErr(fmt.Errorf("give one rollout name (got %d arguments: %s)", len(pos), strings.Join(pos, " ")))
	}
	return pos[0], nil
}

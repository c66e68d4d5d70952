// Command canaryctl is a platform team's CLI on the meshcanary library:
// rollouts written as YAML files, driven with live progress, steered from
// other terminals, audited, backtested, reported and imported from Flagger
// and Argo Rollouts.
//
//	canaryctl run -f rollout.yaml            drive a rollout (live progress)
//	canaryctl status NAME                    where it stands
//	canaryctl pause|resume|promote|abort|approve NAME --actor A --reason R
//	canaryctl set-weight NAME --weight N --actor A --reason R
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
// Exit status: 0 done (run: promoted); 1 the rollout rolled back, a
// command was refused, a check failed; 2 bad input; 3 an operator command
// was queued but no driver applied it in time (it stays queued until
// canaryctl run resumes the rollout).
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
	return &exitError{code: 2, err: err}
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
  history NAME                   the audit trail (Europe/London times)
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
  advise --rps N --error-rate R [-f rollout.yaml | --steps 10,20,30 --interval 1m]
                                 expected minutes to promote and to roll back

Rollouts are kept in --store DIR (default $CANARYCTL_STORE or ./.canaryctl),
or with --store k8s:NAMESPACE in the ConfigMaps canaryctl-NAME,
canaryctl-NAME.commands and canaryctl-NAME.audit of that namespace (which
must exist), reached with --kubeconfig FILE (default $KUBECONFIG, then
~/.kube/config).
`

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
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
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

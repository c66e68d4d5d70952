package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/rollback"
)

// tool finds a program the test needs. A missing tool skips the test on a
// developer's machine and fails it under CI=true, where the test command
// installs it.
func tool(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (the test command installs it: apt-get install -y %s)", names[0], names[0])
	}
	t.Skipf("%s is not installed; install it with apt-get install -y %s to run this test", names[0], names[0])
	return ""
}

// TestLiveProgressInATerminal runs canaryctl in a real terminal (tmux) and
// reads the screen it draws.
func TestLiveProgressInATerminal(t *testing.T) {
	slow(t)
	tmux := tool(t, "tmux")
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	file := m.rolloutFile(t, "search", "20, 50", "4s", "")
	sock := "canaryctl-test-" + strconv.Itoa(os.Getpid())
	tm := func(args ...string) string {
		out, err := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tm("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "120", "-y", "40", "sh")
	t.Cleanup(func() { exec.Command(tmux, "-L", sock, "kill-server").Run() })
	tm("send-keys", "-t", "t", bin+" run -f "+file+" --store "+store+" --timeout 120s; echo EXIT=$?", "Enter")
	screen := func() string { return tm("capture-pane", "-p", "-t", "t") }
	var progressing string
	until(t, "the live screen of a progressing rollout", func() bool {
		s := screen()
		if strings.Contains(s, "phase     progressing") && strings.Contains(s, "verdict   ") && strings.Contains(s, "next      analysis") {
			progressing = s
			return true
		}
		return false
	})
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`canaryctl run search   \d\d/\d\d/\d{4} \d\d:\d\d:\d\d (GMT|BST)`),
		regexp.MustCompile(`canary\s+(20|50) %  \[#+\.+\]  stage [12] of 2`),
		regexp.MustCompile(`metric    error-rate\s+(pass|inconclusive)`),
		regexp.MustCompile(`last events`),
	} {
		if !want.MatchString(progressing) {
			t.Errorf("the screen lacks %s:\n%s", want, progressing)
		}
	}
	if strings.Contains(progressing, "\x1b") {
		t.Errorf("raw escape codes on the screen:\n%q", progressing)
	}
	until(t, "the rollout to finish on screen", func() bool {
		s := screen()
		return strings.Contains(s, "EXIT=")
	})
	if s := screen(); !strings.Contains(s, "search succeeded") || !strings.Contains(s, "EXIT=0") {
		t.Errorf("final screen:\n%s", s)
	}

	// Every outcome has its own exit status, in a terminal too: the
	// finished rollout run again (4: finished, with what to do), and
	// another rollout stopped with Ctrl-C (5: stopped, kept in the store).
	tm("send-keys", "-t", "t", "clear; "+bin+" run -f "+file+" --store "+store+"; echo AGAIN\"\"=$?", "Enter")
	until(t, "the second run of the finished rollout to end", func() bool { return strings.Contains(screen(), "AGAIN=") })
	if s := screen(); !strings.Contains(s, "AGAIN=4") || !strings.Contains(s, "has finished (succeeded)") {
		t.Errorf("run of the finished rollout:\n%s", s)
	}
	held := m.rolloutFile(t, "search-held", "20, 50", "10m", "")
	tm("send-keys", "-t", "t", "clear; "+bin+" run -f "+held+" --store "+store+"; echo STOPPED\"\"=$?", "Enter")
	until(t, "the live screen of the second rollout", func() bool {
		s := screen()
		return strings.Contains(s, "canaryctl run search-held") && strings.Contains(s, "phase     progressing")
	})
	tm("send-keys", "-t", "t", "C-c")
	until(t, "run to end after Ctrl-C", func() bool { return strings.Contains(screen(), "STOPPED=") })
	if s := screen(); !strings.Contains(s, "STOPPED=5") || !strings.Contains(s, "stopped before the end") {
		t.Errorf("run after Ctrl-C:\n%s", s)
	}
	if st, ok := statusOf(t, store, "search-held"); !ok || st.Phase != rollback.Progressing {
		t.Errorf("after Ctrl-C the rollout is %+v, want kept progressing", st)
	}
}

// TestReportInChromium drives a rollout through an approval gate, writes
// its report and opens it in headless Chromium.
func TestReportInChromium(t *testing.T) {
	slow(t)
	chromium := tool(t, "chromium", "chromium-browser")
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	file := m.rolloutFile(t, "orders", "20, 50", "2s", "")
	b, _ := os.ReadFile(file)
	os.WriteFile(file, bytes.Replace(b, []byte("  deadline: 60s\n"), []byte("  deadline: 60s\n  gates: {beforePromotion: true}\n"), 1), 0o644)
	cmd := exec.Command(bin, "run", "-f", file, "--store", store, "--timeout", "120s")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	})
	until(t, "the rollout to progress", func() bool {
		st, ok := statusOf(t, store, "orders")
		return ok && st.Phase == rollback.Progressing && st.Split.Canary > 0
	})
	if o, e, code := ctl(t, store, "pause", "orders", "--actor", "alice", "--reason", "look at the traces"); code != 0 {
		t.Fatalf("pause: %d %s %s", code, o, e)
	}
	if o, e, code := ctl(t, store, "resume", "orders", "--actor", "alice", "--reason", "traces fine"); code != 0 {
		t.Fatalf("resume: %d %s %s", code, o, e)
	}
	until(t, "the promotion gate", func() bool {
		st, ok := statusOf(t, store, "orders")
		return ok && st.Phase == rollback.AwaitingApproval
	})
	if o, e, code := ctl(t, store, "approve", "orders", "--actor", "carol", "--reason", "dashboards green"); code != 0 {
		t.Fatalf("approve: %d %s %s", code, o, e)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, out.String())
		}
	case <-time.After(wait):
		t.Fatalf("run did not finish:\n%s", out.String())
	}
	dir := t.TempDir()
	html := filepath.Join(dir, "orders.html")
	if o, e, code := ctl(t, store, "report", "orders", "-o", html, "--svg", filepath.Join(dir, "orders.svg"), "--png", filepath.Join(dir, "orders.png")); code != 0 {
		t.Fatalf("report: %d %s %s", code, o, e)
	}
	// The PNG gonum/plot drew: the weight panel and the metrics' panels.
	if b, err := os.ReadFile(filepath.Join(dir, "orders.png")); err != nil {
		t.Error(err)
	} else {
		checkChartPNG(t, b, 0, false)
		if dst := os.Getenv("CANARYCTL_CHART"); dst != "" {
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	page, _ := os.ReadFile(html)
	for _, want := range []string{"carol", "dashboards green", "gate: waits for approval", "decision: succeeded", "<svg",
		"manual pause", "look at the traces", "manual resume"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	flags := func(extra ...string) []string {
		return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir()}, extra...)
	}
	// Chromium gets a bounded time to start and render on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dom, err := exec.CommandContext(ctx, chromium, flags("--dump-dom", "file://"+html)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	london := regexp.MustCompile(`\d\d/\d\d/\d{4} \d\d:\d\d:\d\d (GMT|BST)`)
	if n := len(london.FindAll(dom, -1)); n < 5 {
		t.Errorf("the rendered page shows %d London times, want the timeline's", n)
	}
	// gonum/plot's axis: clock times in London and the zone in the label.
	if !bytes.Contains(dom, []byte("time (Europe/London, ")) {
		t.Errorf("the chart's time axis is not labelled Europe/London")
	}
	shot := filepath.Join(dir, "report.png")
	if o, err := exec.CommandContext(ctx, chromium, flags("--window-size=1100,1500", "--hide-scrollbars", "--screenshot="+shot, "file://"+html)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, o)
	}
	checkScreenshot(t, shot)
	if dst := os.Getenv("CANARYCTL_SCREENSHOT"); dst != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// checkScreenshot decodes the PNG and checks that it is not blank: some of
// it is drawn (not white), and in several colours (the chart's lines).
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	bounds := img.Bounds()
	if bounds.Dx() < 1000 || bounds.Dy() < 1000 {
		t.Fatalf("screenshot is %v", bounds)
	}
	drawn, colours := 0, map[[3]uint32]bool{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || b < 0xf000 {
				drawn++
			}
			colours[[3]uint32{r >> 12, g >> 12, b >> 12}] = true
		}
	}
	total := (bounds.Dx() / 2) * (bounds.Dy() / 2)
	if drawn*100 < total || len(colours) < 8 {
		t.Errorf("screenshot looks blank: %d of %d sampled pixels drawn, %d colours", drawn, total, len(colours))
	}
	_ = image.Point{}
	_ = errors.New
}

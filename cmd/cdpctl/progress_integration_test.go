//go:build linux

package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

var stages = []string{"land", "ingest", "cleanse", "resolve", "curate", "reconcile"}

// checkStageLines fails unless every stage of all started and ended on
// exactly one line of lines each.
func checkStageLines(t *testing.T, lines []string) {
	t.Helper()
	for _, stage := range stages {
		for _, re := range []*regexp.Regexp{
			regexp.MustCompile(`msg="job started" job=` + stage + ` `),
			regexp.MustCompile(`msg="job (finished|failed)" job=` + stage + ` `),
		} {
			n := 0
			for _, l := range lines {
				if re.MatchString(l) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d lines match %s, want 1:\n%s", n, re, strings.Join(lines, "\n"))
			}
		}
	}
}

// On a terminal, `job run all` draws a bar while a stage runs and leaves
// only the log: a line when each stage starts and one when it ends, the
// same as in a log, with no remnant of a bar, also when a stage fails.
func TestJobRunAllOnATerminal(t *testing.T) {
	in := testenv.Init(t).WithoutSchedules(t)
	in.Serve(t)
	sendOrders(t, in, 300)

	run := func(want string) []string {
		t.Helper()
		pty := testenv.OpenPty(t, 100)
		var stdout bytes.Buffer
		cmd := exec.Command(in.Bin, "job", "run", "all", "--data-dir", in.DataDir, "--kafka-brokers", in.Broker)
		cmd.Stdout, cmd.Stderr = &stdout, pty.Term
		err := cmd.Run()
		raw := pty.Output()
		if (err == nil) != (want == "") {
			t.Fatalf("job run all: %v, want failure %q\n%s%s", err, want, stdout.String(), raw)
		}
		if !bytes.Contains(raw, []byte("\rland cdp.events")) {
			t.Fatalf("no bar was drawn:\n%q", raw)
		}
		// Stages that report no progress show their time.
		for _, stage := range []string{"cleanse", "resolve", "curate"} {
			if !regexp.MustCompile(`\r\S ` + stage + ` +\[\d+s\]`).Match(raw) {
				t.Errorf("%s showed no elapsed time:\n%q", stage, raw)
			}
		}
		screen := testenv.Screen(raw, int(pty.Cols))
		checkStageLines(t, screen)
		for _, l := range screen {
			if l != "" && !strings.HasPrefix(l, "time=") && !strings.HasPrefix(l, "Error: ") {
				t.Errorf("the terminal shows %q, neither log nor error:\n%s", l, strings.Join(screen, "\n"))
			}
		}
		if want != "" && !strings.HasPrefix(screen[len(screen)-2], "Error: "+want) {
			t.Errorf("the terminal ends in %q, want the error %q", screen[len(screen)-2], want)
		}
		return screen
	}

	screen := run("")
	for _, l := range screen {
		// all's summary is its stages' lines: logged once, by them.
		if strings.Contains(l, `msg="job finished" job=all `) && strings.Contains(l, "summary=") {
			t.Errorf("all's end repeats its stages' summaries: %s", l)
		}
	}

	// A source whose second file cannot be read fails ingest with the
	// bar of the first drawn.
	drop := t.TempDir()
	os.WriteFile(filepath.Join(drop, "a.csv"), []byte("id\nc1\nc2\n"), 0o600)
	os.WriteFile(filepath.Join(drop, "b.csv"), []byte("ident\nc3\n"), 0o600)
	def := filepath.Join(t.TempDir(), "crm.yaml")
	os.WriteFile(def, []byte("name: crm\nworkspace: default\nlocation: file://"+drop+
		"\nformat: {type: csv}\nkind: profiles\nfields:\n  customer_id: {column: id, identifier: customer_id, required: true}\n"), 0o600)
	cdpctl(t, in, "", "source", "add", def, "--no-check", "--data-dir", in.DataDir)
	sendOrders(t, in, 300)
	run("job all: stage ingest")
}

// In a log (--progress log, or auto on a pipe) each stage starts and ends
// on a line of its own, and all's end does not repeat them.
func TestJobRunAllLogs(t *testing.T) {
	in := testenv.Init(t).WithoutSchedules(t)
	srv := in.Serve(t)
	sendOrders(t, in, 30)
	for _, progress := range []string{"log", "auto"} {
		var stderr bytes.Buffer
		cmd := exec.Command(in.Bin, "job", "run", "all", "--progress", progress, "--data-dir", in.DataDir, "--kafka-brokers", in.Broker)
		cmd.Stderr = &stderr
		if out, err := cmd.Output(); err != nil {
			t.Fatalf("job run all: %v\n%s%s", err, out, stderr.String())
		}
		lines := strings.Split(stderr.String(), "\n")
		checkStageLines(t, lines)
		for _, l := range lines {
			if l != "" && !strings.HasPrefix(l, "time=") {
				t.Errorf("--progress %s: the log has %q", progress, l)
			}
			if strings.Contains(l, `msg="job finished" job=all `) && strings.Contains(l, "summary=") {
				t.Errorf("all's end repeats its stages' summaries: %s", l)
			}
		}
	}
	// The server logged the reconciles it acknowledged: durations and
	// sizes as written elsewhere, not seconds, milliseconds and bytes.
	done := regexp.MustCompile(`msg="speed reconcile done" version=\d+ load=[0-9.]+[mµn]?s replay=[0-9.]+[mµn]?s swap=[0-9.]+[mµn]?s sweep=[0-9.]+[mµn]?s ` +
		`replayed=\d+ profiles=30 heap_before="[0-9.]+ [KMG]iB" heap_peak="[0-9.]+ [KMG]iB" heap_after="[0-9.]+ [KMG]iB"`)
	n := 0
	// Logged before the acknowledgment the run waited for, but read from
	// the server's stderr by a goroutine of this process.
	for deadline := time.Now().Add(5 * time.Second); n < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		n = len(done.FindAllString(srv.Log.String(), -1))
	}
	if n != 2 {
		t.Errorf("%d lines match %s, want 2 (a reconcile a run):\n%s", n, done, srv.Log.String())
	}
}

// Ctrl-C during `job run` on a terminal: the run stops, its display goes,
// and the terminal ends in "interrupted" (not "context canceled"), exit
// status 130 as a shell's for a command SIGINT stopped. The history
// records the run as failed, interrupted.
func TestJobRunInterrupted(t *testing.T) {
	in := testenv.Init(t).WithoutSchedules(t)
	in.Serve(t)
	sendOrders(t, in, 300)

	pty := testenv.OpenPty(t, 100)
	var stdout bytes.Buffer
	cmd := exec.Command(in.Bin, "job", "run", "all", "--data-dir", in.DataDir, "--kafka-brokers", in.Broker)
	cmd.Stdout, cmd.Stderr = &stdout, pty.Term
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// cleanse reports no progress: a spinner and its elapsed time show it runs.
	pty.Await(t, " cleanse  [0s]", time.Minute)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	raw := pty.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("job run all after SIGINT: %v, want exit status 130\n%s%q", err, stdout.String(), raw)
	}
	screen := testenv.Screen(raw, int(pty.Cols))
	for _, l := range screen {
		if l != "" && !strings.HasPrefix(l, "time=") && !strings.HasPrefix(l, "Error: ") {
			t.Errorf("the terminal shows %q, neither log nor error:\n%s", l, strings.Join(screen, "\n"))
		}
	}
	if last := screen[len(screen)-2]; last != "Error: job all: interrupted" {
		t.Errorf("the terminal ends in %q, want the error %q:\n%s", last, "Error: job all: interrupted", strings.Join(screen, "\n"))
	}
	hist := cdpctl(t, in, "", "job", "history", "all", "-n", "1", "--data-dir", in.DataDir)
	if !strings.Contains(hist, "failed") || !strings.Contains(hist, "(interrupted)") {
		t.Errorf("job history after SIGINT:\n%s", hist)
	}
}

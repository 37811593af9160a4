package main_test

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// TestJobTimesInUTC: on a machine whose zone is not UTC, a run's log,
// `job history` and `job list` tell one clock, UTC, marked Z, and the
// next run is when the scheduler (UTC) fires.
func TestJobTimesInUTC(t *testing.T) {
	t.Setenv("TZ", "Asia/Kolkata") // +05:30: no hour of it reads as UTC's
	in := testenv.Init(t).WithSchedule(t, "0 3 * * *")
	dd := []string{"--data-dir", in.DataDir}

	// compact needs no Kafka.
	var stderr bytes.Buffer
	cmd := exec.Command(in.Bin, append([]string{"job", "run", "compact", "--progress", "log"}, dd...)...)
	cmd.Stderr = &stderr
	before := time.Now().UTC().Truncate(time.Second)
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("job run compact: %v\n%s%s", err, out, stderr.String())
	}
	after := time.Now().UTC()
	inRun := func(what, s, layout string) {
		t.Helper()
		at, err := time.Parse(layout, s)
		if err != nil || at.Before(before) || at.After(after) {
			t.Errorf("%s at %s (%v), want UTC between %s and %s", what, s, err, before.Format(time.RFC3339), after.Format(time.RFC3339))
		}
	}
	logTime := regexp.MustCompile(`^time=(\S+) `)
	for l := range strings.Lines(stderr.String()) {
		m := logTime.FindStringSubmatch(l)
		if m == nil || !strings.HasSuffix(m[1], "Z") {
			t.Errorf("log line not in UTC: %s", l)
			continue
		}
		inRun("log line", m[1], time.RFC3339Nano)
	}

	const layout = "2006-01-02 15:04:05Z"
	stamp := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ`)
	hist := cdpctl(t, in, "", append([]string{"job", "history"}, dd...)...)
	if s := stamp.FindString(hist); s == "" {
		t.Errorf("job history shows no start in UTC:\n%s", hist)
	} else {
		inRun("job history's start", s, layout)
	}
	list := cdpctl(t, in, "", append([]string{"job", "list"}, dd...)...)
	for l := range strings.Lines(list) {
		f := stamp.FindAllString(l, -1)
		switch {
		case strings.HasPrefix(l, "all "):
			// Not run yet; next at 03:00 UTC, not 03:00 in Kolkata.
			if len(f) != 1 || !strings.HasSuffix(f[0], " 03:00:00Z") {
				t.Errorf("all's next run: %q, want one at 03:00:00Z:\n%s", f, list)
			}
		case strings.HasPrefix(l, "compact "):
			if len(f) != 1 {
				t.Errorf("compact's last run: %q, want one:\n%s", f, list)
			} else {
				inRun("job list's last run", f[0], layout)
			}
		}
	}
}

package command

import (
	"bytes"
	"log/slog"
	"regexp"
	"testing"
)

// In a log, progress is a record between the stage's start and end
// lines (the runner's), none of its own at either.
func TestLogProgressIsARecordBetweenStartAndEnd(t *testing.T) {
	var buf bytes.Buffer
	l := &logProgress{log: slog.New(slog.NewTextHandler(&buf, nil))}
	l.Start("land cdp.events", 100)
	if buf.Len() != 0 {
		t.Fatalf("a line at the start: %s", buf.String())
	}
	l.Add(50, 2048)
	l.End()
	re := regexp.MustCompile(`^time=\S+ level=INFO msg=progress stage="land cdp.events" rows=50 of=100 done=50% eta=\d+s written="2.0 KiB" rows_per_s=\d+\n$`)
	if !re.MatchString(buf.String()) {
		t.Fatalf("want one record matching %s, got:\n%s", re, buf.String())
	}
}

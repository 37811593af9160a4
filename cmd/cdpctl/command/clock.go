package command

import (
	"io"
	"log/slog"
	"time"
)

// The CLI tells time in UTC, as the lake's days, the job history's file
// names and the scheduler do, whatever the machine's zone: an operator
// reads one clock in the logs, `job list` and `job history`, marked Z.

// logHandler writes log lines to w with their time in UTC.
func logHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			a.Value = slog.TimeValue(a.Value.Time().UTC())
		}
		return a
	}})
}

// clock writes t to the second, in UTC: 2006-01-02 15:04:05Z.
func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

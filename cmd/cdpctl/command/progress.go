package command

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// jobProgress shows a job's progress: a bar (rows, bytes, rate, ETA) on
// a terminal, a log line every few seconds otherwise. The runner's log
// lines say when each stage starts and ends; progress only fills the time
// between, so a stage event is one line in either mode.
type jobProgress interface {
	Start(stage string, totalRows int64)
	Add(rows, bytes int64)
	Finish()
}

// progressModes are the values of job run's --progress.
var progressModes = []string{"auto", "bar", "log", "none"}

// newProgress returns the progress for mode and the logger the run logs
// to: on a bar, log lines go through it, to be written above the bar
// rather than into it.
func newProgress(w io.Writer, mode string, level slog.Level) (jobProgress, *slog.Logger) {
	if mode == "auto" {
		mode = "log"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	log := slog.New(logHandler(w, level))
	switch mode {
	case "bar":
		b := &barProgress{w: w}
		return b, slog.New(logHandler(b, level))
	case "none":
		return nopJobProgress{}, log
	}
	return &logProgress{log: log, every: 5 * time.Second}, log
}

type nopJobProgress struct{}

func (nopJobProgress) Start(string, int64) {}
func (nopJobProgress) Add(int64, int64)    {}
func (nopJobProgress) Finish()             {}

// barProgress draws one bar on the terminal's last line and never leaves
// it behind: a new stage, a log line, the end of the run (failed or not)
// clear it first.
type barProgress struct {
	w     io.Writer
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	stage string
	bytes int64
}

func (b *barProgress) Start(stage string, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
	if total <= 0 {
		total = -1 // spinner
	}
	b.stage, b.bytes = stage, 0
	b.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(stage),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionShowIts(),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionFullWidth(),
		// No spinner goroutine: it drew on its own, after a clear.
		progressbar.OptionSetSpinnerChangeInterval(0),
	)
	// The rate counts from now, not from the first Add (which made it
	// millions of rows/s).
	b.bar.StartWithoutRender()
}

func (b *barProgress) Add(rows, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar == nil {
		return
	}
	if bytes > 0 {
		b.bytes += bytes
		b.bar.Describe(fmt.Sprintf("%s (%s written)", b.stage, humanize.IBytes(uint64(b.bytes))))
	}
	_ = b.bar.Add64(rows)
}

// Write clears the bar and writes a log line in its place. The stage's
// next Add draws the bar again, below: a stage that has ended (its "job
// finished" line is the usual writer) adds nothing more, so its bar
// stays gone.
func (b *barProgress) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Clear()
	}
	return b.w.Write(p)
}

func (b *barProgress) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
}

func (b *barProgress) clear() {
	if b.bar != nil {
		_ = b.bar.Clear()
		b.bar = nil
	}
}

type logProgress struct {
	log   *slog.Logger
	every time.Duration

	mu          sync.Mutex
	stage       string
	total, rows int64
	bytes       int64
	start, last time.Time
}

func (l *logProgress) Start(stage string, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stage, l.total, l.rows, l.bytes = stage, total, 0, 0
	l.start, l.last = time.Now(), time.Now()
}

func (l *logProgress) Add(rows, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rows += rows
	l.bytes += bytes
	if time.Since(l.last) >= l.every {
		l.last = time.Now()
		l.line()
	}
}

func (l *logProgress) line() {
	rate := float64(l.rows) / max(time.Since(l.start).Seconds(), 1e-9)
	args := []any{"stage", l.stage, "rows", l.rows}
	if l.total > 0 {
		args = append(args, "of", l.total, "done", fmt.Sprintf("%.0f%%", 100*float64(l.rows)/float64(l.total)))
		if rate > 0 {
			args = append(args, "eta", (time.Duration(float64(l.total-l.rows)/rate) * time.Second).Round(time.Second))
		}
	}
	args = append(args, "written", humanize.IBytes(uint64(l.bytes)), "rows_per_s", int64(rate))
	l.log.Info("progress", args...)
}

// Finish does nothing: the runner's "job finished" line says what the
// stage did.
func (l *logProgress) Finish() {}

package command

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/jobs"
)

// jobProgress shows a job's progress: a bar (rows, bytes, rate, ETA) on
// a terminal, a log line every few seconds otherwise. The runner's log
// lines say when each stage starts and ends; progress only fills the time
// between, so a stage event is one line in either mode.
type jobProgress = jobs.Progress

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
func (nopJobProgress) End()                {}

// barProgress draws one bar on the terminal's last line and never leaves
// it behind: a new stage, a log line, the end of a stage or of the run
// (failed or not) clear it first.
type barProgress struct {
	w     io.Writer
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	stage string
	total int64
	rows  int64
	bytes int64
}

// tick is how often a stage's bar is drawn again though nothing was
// added: its elapsed time moves on.
const tick = time.Second

func (b *barProgress) Start(stage string, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
	b.stage, b.total, b.rows, b.bytes = stage, total, 0, 0
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(stage),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionFullWidth(),
		// No spinner goroutine of its own: it drew outside b.mu, after a
		// clear. The tick below draws under it.
		progressbar.OptionSetSpinnerChangeInterval(0),
	}
	if total <= 0 {
		// A spinner and the elapsed time; rows, if any, in the
		// description (a count of 0 rows would say the stage counts them).
		total = -1
	} else {
		opts = append(opts, progressbar.OptionSetItsString("rows"), progressbar.OptionShowIts(), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true))
	}
	bar := progressbar.NewOptions64(total, opts...)
	b.bar = bar
	// The elapsed time and the rate count from now, not from the first
	// Add (which made it millions of rows/s). A spinner shows at once
	// that the stage runs; a bar at 0% ("0 rows/hr") waits for its rows.
	if total < 0 {
		_ = bar.RenderBlank()
	} else {
		bar.StartWithoutRender()
	}
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for range t.C {
			b.mu.Lock()
			if b.bar != bar { // the stage is over
				b.mu.Unlock()
				return
			}
			_ = bar.RenderBlank()
			b.mu.Unlock()
		}
	}()
}

func (b *barProgress) Add(rows, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar == nil {
		return
	}
	b.rows += rows
	b.bytes += bytes
	var done []string
	if b.total <= 0 && b.rows > 0 {
		done = append(done, plural.Count(b.rows, "row"))
	}
	if b.bytes > 0 {
		done = append(done, humanize.IBytes(uint64(b.bytes))+" written")
	}
	if len(done) > 0 {
		b.bar.Describe(fmt.Sprintf("%s (%s)", b.stage, strings.Join(done, ", ")))
	}
	_ = b.bar.Add64(rows)
}

// Write clears the bar and writes a log line in its place; the stage's
// next Add or tick draws the bar again, below. A stage has ended before
// the line that says so ("job finished"), so its bar stays gone.
func (b *barProgress) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Clear()
	}
	return b.w.Write(p)
}

func (b *barProgress) End() {
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

// End does nothing: the runner's "job finished" line says what the
// stage did.
func (l *logProgress) End() {}

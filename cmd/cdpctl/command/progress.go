package command

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// jobProgress shows a job's progress: a bar (rows, bytes, rate, ETA) on
// a terminal, a log line every few seconds otherwise.
type jobProgress interface {
	Start(stage string, totalRows int64)
	Add(rows, bytes int64)
	Finish()
}

// progressModes are the values of job run's --progress.
var progressModes = []string{"auto", "bar", "log", "none"}

func newProgress(w io.Writer, mode string) jobProgress {
	if mode == "auto" {
		mode = "log"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	switch mode {
	case "bar":
		return &barProgress{w: w}
	case "none":
		return nopJobProgress{}
	}
	return &logProgress{w: w, every: 5 * time.Second}
}

type nopJobProgress struct{}

func (nopJobProgress) Start(string, int64) {}
func (nopJobProgress) Add(int64, int64)    {}
func (nopJobProgress) Finish()             {}

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
	if b.bar != nil {
		_ = b.bar.Finish()
		fmt.Fprintln(b.w)
	}
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
	)
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

func (b *barProgress) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Finish()
		fmt.Fprintln(b.w)
		b.bar = nil
	}
}

type logProgress struct {
	w     io.Writer
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
	if total > 0 {
		fmt.Fprintf(l.w, "%s: %d rows to do\n", stage, total)
	}
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
	el := time.Since(l.start).Seconds()
	rate := float64(l.rows) / max(el, 1e-9)
	eta := ""
	if l.total > 0 && rate > 0 {
		eta = fmt.Sprintf(", ETA %s", (time.Duration(float64(l.total-l.rows)/rate) * time.Second).Round(time.Second))
		eta = fmt.Sprintf(" of %d (%.0f%%)%s", l.total, 100*float64(l.rows)/float64(l.total), eta)
	}
	fmt.Fprintf(l.w, "%s: %d rows%s, %s written, %.0f rows/s\n", l.stage, l.rows, eta, humanize.IBytes(uint64(l.bytes)), rate)
}

func (l *logProgress) Finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stage != "" && l.rows > 0 {
		l.line()
	}
}

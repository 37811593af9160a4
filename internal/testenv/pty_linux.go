package testenv

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// Pty is a pseudo-terminal of 24 rows and Cols columns: a command run
// with Term as its stdout or stderr is on a terminal, and Screen reads
// what it wrote there.
type Pty struct {
	Term *os.File
	Cols uint16
	mu   sync.Mutex
	out  []byte
	done chan struct{}
}

// OpenPty opens a pseudo-terminal cols wide, closed at test cleanup.
func OpenPty(tb testing.TB, cols uint16) *Pty {
	tb.Helper()
	m, s, err := pty.Open()
	if err != nil {
		tb.Skipf("no pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(s, &pty.Winsize{Rows: 24, Cols: cols}); err != nil {
		m.Close()
		s.Close()
		tb.Fatalf("size pty: %v", err)
	}
	p := &Pty{Term: s, Cols: cols, done: make(chan struct{})}
	// Read all the time: a terminal whose output nobody reads blocks the
	// writer once its buffer is full.
	go func() {
		defer close(p.done)
		b := make([]byte, 4096)
		for {
			n, err := m.Read(b)
			p.mu.Lock()
			p.out = append(p.out, b[:n]...)
			p.mu.Unlock()
			if err != nil { // EIO once the last terminal side is closed
				return
			}
		}
	}()
	tb.Cleanup(func() {
		s.Close()
		m.Close()
	})
	return p
}

// Output closes the terminal side (run the command to its end first) and
// returns all that was written to it, with the terminal's \r\n for \n.
func (p *Pty) Output() []byte {
	p.Term.Close()
	<-p.done
	return p.out
}

// Await waits until what was written holds s, failing after timeout.
func (p *Pty) Await(tb testing.TB, s string, timeout time.Duration) {
	tb.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		ok := bytes.Contains(p.out, []byte(s))
		p.mu.Unlock()
		if ok {
			return
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tb.Fatalf("the terminal shows no %q after %s:\n%q", s, timeout, p.out)
}

// Screen is what a terminal cols wide shows of out, a string per line
// (the rows of a line too long for one joined): \r goes back to the
// start of the row, and later text overwrites earlier. Trailing blanks
// are cut.
func Screen(out []byte, cols int) []string {
	var lines []string
	for l := range bytes.SplitSeq(out, []byte("\n")) {
		var line []rune
		col, row := 0, 0 // row: where the cursor's row starts in line
		for _, r := range string(l) {
			if r == '\r' {
				col = row
				continue
			}
			if col-row == cols {
				row = col
			}
			if col < len(line) {
				line[col] = r
			} else {
				line = append(line, r)
			}
			col++
		}
		lines = append(lines, strings.TrimRight(string(line), " "))
	}
	return lines
}

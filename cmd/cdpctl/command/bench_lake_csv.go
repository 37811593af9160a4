package command

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"io"
)

// newCSVBaseline is the bare encoding/csv reader the ingest benchmark
// compares against (BOM skipped, as ingest does).
func newCSVBaseline(r io.Reader) *csv.Reader {
	br := bufio.NewReaderSize(r, 1<<20)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	c := csv.NewReader(br)
	c.FieldsPerRecord = -1
	c.ReuseRecord = true
	return c
}

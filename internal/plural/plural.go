// Package plural writes a count with its noun in the right number, as
// the CLI, job summaries and errors print counts: "1 file", "0 files".
package plural

import (
	"strconv"

	"github.com/dustin/go-humanize/english"
)

// Count is n and noun, plural unless n is 1. The plural is
// english.PluralWord's (entry → entries, match → matches); n is written
// as %d writes it, like the other numbers of a summary.
func Count[N ~int | ~int32 | ~int64](n N, noun string) string {
	return strconv.FormatInt(int64(n), 10) + " " + english.PluralWord(int(n), noun, "")
}

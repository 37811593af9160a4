package cdp

import (
	"errors"
	"strconv"
	"strings"
)

// ParseAmount reads an e-commerce amount (revenue, total, value, a
// product's price or quantity) sent as a numeric string or a JSON number's
// text. Both layers read amounts with it (the speed layer's commerce, the
// batch layer's parse_amount UDF), so they agree on every spelling.
// A number past float64 (1e400) reads as ±Inf, as "Infinity" does: an
// amount, which counts 0, not a reason to read the next field.
func ParseAmount(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil || errors.Is(err, strconv.ErrRange)
}

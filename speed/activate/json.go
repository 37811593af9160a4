package activate

import (
	"math"
	"strconv"

	cdp "github.com/tributary-cdp/tributary"
)

// appendString appends s as a JSON string (cdp.AppendJSONString).
func appendString(b []byte, s string) []byte { return cdp.AppendJSONString(b, s) }

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

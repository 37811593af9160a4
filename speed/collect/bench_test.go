package collect

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func benchBatchBody(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"batch":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"type":"track","event":"Product Viewed","userId":"user-%d","messageId":"m-%d","timestamp":"2026-11-22T12:00:00Z",`+
			`"properties":{"product_id":"sku-%d","price":19.99,"currency":"USD","category":"shoes"},`+
			`"context":{"ip":"203.0.113.7","userAgent":"Mozilla/5.0 (X11; Linux x86_64)","library":{"name":"bench","version":"1"}}}`, i, i, i)
	}
	sb.WriteString(`],"sentAt":"2026-11-22T12:00:01Z"}`)
	return []byte(sb.String())
}

// BenchmarkDecodeBatch measures the collector's CPU per 100-event batch:
// parse, validate, canonicalize and encode each event (no Kafka).
func BenchmarkDecodeBatch(b *testing.B) {
	body := benchBatchBody(100)
	now := time.Now()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		wb, err := decodeBatch(body)
		if err != nil {
			b.Fatal(err)
		}
		for _, raw := range wb.Batch {
			e, err := decodeEvent(raw, "", "ws", now, wb.SentAt, wb.Context, wb.Integrations)
			if err != nil {
				b.Fatal(err)
			}
			_ = e.AppendJSON(nil)
		}
	}
}

package speed

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// kafka-go's process-wide DefaultTransport keeps idle connections of the
	// test helpers' clients and writers; the consumer uses and closes its own.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/segmentio/kafka-go.(*conn).run"),
		goleak.IgnoreTopFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
	)
}

package jobs_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// The runner renews leases and the scheduler fires jobs on goroutines;
// none may outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func hostname() string {
	h, _ := os.Hostname()
	return h
}

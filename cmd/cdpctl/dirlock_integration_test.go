package main_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// A second serve (or broker) on a data dir a serve uses stops at once,
// naming the directory and the process, before it touches the first one's
// broker log or checkpoints; once the first stops, it starts.
func TestSecondServeOnADataDirIsRefused(t *testing.T) {
	in := testenv.Init(t)
	first := in.Serve(t)
	pid := strconv.Itoa(first.Cmd.Process.Pid)
	for _, c := range []struct {
		args []string
		dir  string
	}{
		{[]string{"serve", "--http", testenv.FreeAddr(t), "--embedded-broker-addr", testenv.FreeAddr(t)}, "kafka (embedded broker)"},
		{[]string{"serve", "--http", testenv.FreeAddr(t), "--kafka-brokers", in.Broker}, "speed (speed layer)"},
		{[]string{"broker", "--embedded-broker-addr", testenv.FreeAddr(t)}, "kafka (embedded broker)"},
	} {
		out, err := exec.Command(in.Bin, append(c.args, "--data-dir", in.DataDir)...).CombinedOutput()
		if err == nil {
			t.Fatalf("%v on a data dir in use: no error\n%s", c.args, out)
		}
		if !strings.Contains(string(out), c.dir+" is in use by process "+pid) {
			t.Errorf("%v: %s; want it to name %s and process %s", c.args, out, c.dir, pid)
		}
	}
	first.Stop(t)
	in.Serve(t)
}

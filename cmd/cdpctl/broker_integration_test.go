package main_test

import (
	"bufio"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/testenv"
)

// TestServeAgainstSeparateBrokerProcess runs `cdpctl broker` alone and
// `cdpctl serve --kafka-brokers` against it, as a multi-process setup would.
func TestServeAgainstSeparateBrokerProcess(t *testing.T) {
	in := testenv.Init(t)
	addr := testenv.FreeAddr(t)
	br := exec.Command(in.Bin, "broker", "--data-dir", t.TempDir(), "--embedded-broker-addr", addr)
	stdout, _ := br.StdoutPipe()
	br.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := br.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Process.Kill(); br.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				line <- sc.Text()
			}
		}
	}()
	select {
	case l := <-line:
		if !strings.Contains(l, addr) {
			t.Fatalf("broker announced %q, want %s", l, addr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("broker did not start")
	}

	in.Broker = addr
	in.Serve(t, "--kafka-brokers", addr)
	if st, err := post(t, in.URL()+"/v1/identify", in.WriteKey, []byte(`{"userId":"ext-1","messageId":"ext-m1"}`), false); err != nil || st != 200 {
		t.Fatalf("identify: %d %v", st, err)
	}
	if got := readAll(t, addr, cdp.TopicEvents, 1); got["ext-m1"] == nil {
		t.Fatal("event not in the separate broker")
	}
}

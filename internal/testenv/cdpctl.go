// Package testenv starts real components for tests on 127.0.0.1: the
// cdpctl binary with its embedded broker, MinIO and OpenSSH.
package testenv

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Cdpctl returns the path of a cdpctl binary: $TRIBUTARY_BIN when set
// (make test builds it once), else one built from this module for the test run.
func Cdpctl(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("TRIBUTARY_BIN"); p != "" {
			binPath = p
			return
		}
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		// One binary per module checkout, replaced by each build (go build's
		// cache makes that quick): a directory per test process was never
		// removed, 100 MB each. Each process builds to its own name and
		// renames, so packages tested at once never run a half-written file.
		sum := sha256.Sum256([]byte(root))
		dir := filepath.Join(os.TempDir(), "cdpctl-test-"+hex.EncodeToString(sum[:8]))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "cdpctl")
		tmp := fmt.Sprintf("%s.%d", binPath, os.Getpid())
		out, err := exec.Command("go", "build", "-o", tmp, filepath.Join(root, "cmd", "cdpctl")).CombinedOutput()
		if err == nil {
			err = os.Rename(tmp, binPath)
		}
		if err != nil {
			os.Remove(tmp)
			buildErr = fmt.Errorf("build cdpctl: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// ModuleRoot is the directory holding go.mod.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	r, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// FreeAddr returns a free 127.0.0.1:port.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Instance is an initialized data dir with its keys.
type Instance struct {
	Bin      string
	DataDir  string
	WriteKey string
	APIKey   string
	HTTPAddr string // set before Start
	Broker   string // embedded broker address
}

var keyLine = regexp.MustCompile(`(?m)^(write_key|api_key): (\S+)$`)

// Init runs `cdpctl init` in a fresh data dir with free ports chosen.
func Init(tb testing.TB) *Instance {
	tb.Helper()
	in := &Instance{Bin: Cdpctl(tb), DataDir: tb.TempDir(), HTTPAddr: FreeAddr(tb), Broker: FreeAddr(tb)}
	out, err := exec.Command(in.Bin, "init", "--data-dir", in.DataDir).CombinedOutput()
	if err != nil {
		tb.Fatalf("cdpctl init: %v\n%s", err, out)
	}
	for _, m := range keyLine.FindAllStringSubmatch(string(out), -1) {
		switch m[1] {
		case "write_key":
			in.WriteKey = m[2]
		case "api_key":
			in.APIKey = m[2]
		}
	}
	if in.WriteKey == "" || in.APIKey == "" {
		tb.Fatalf("cdpctl init printed no keys:\n%s", out)
	}
	return in
}

// WithoutSchedules takes init's schedule out of the config, so that a
// serve runs no job by the clock in the middle of a test (the default
// runs all every quarter-hour, and a test's own job run then finds it
// running); the test runs the jobs. It returns in.
func (in *Instance) WithoutSchedules(tb testing.TB) *Instance {
	tb.Helper()
	return in.schedules(tb, "    schedules: {}\n")
}

// WithSchedule runs all by the cron spec instead of init's. It returns in.
func (in *Instance) WithSchedule(tb testing.TB, spec string) *Instance {
	tb.Helper()
	return in.schedules(tb, "    schedules:\n        all: '"+spec+"'\n")
}

// schedules replaces init's jobs.schedules with yaml.
func (in *Instance) schedules(tb testing.TB, yaml string) *Instance {
	tb.Helper()
	path := filepath.Join(in.DataDir, "tributary.yaml")
	cfg, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	const cron = "    schedules:\n        all: '*/15 * * * *'\n"
	if !strings.Contains(string(cfg), cron) {
		tb.Fatalf("%s has no schedule %q to replace", path, cron)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(cfg), cron, yaml, 1)), 0o644); err != nil {
		tb.Fatal(err)
	}
	return in
}

// Process is a running `cdpctl serve`.
type Process struct {
	Cmd *exec.Cmd
	Log *SyncBuffer
}

// URL is the server's base URL.
func (in *Instance) URL() string { return "http://" + in.HTTPAddr }

// Serve starts `cdpctl serve` on the instance's ports and waits for /readyz.
// Extra args are appended. The process is killed at test cleanup.
func (in *Instance) Serve(tb testing.TB, extra ...string) *Process {
	tb.Helper()
	args := append([]string{"serve", "--data-dir", in.DataDir, "--http", in.HTTPAddr, "--embedded-broker-addr", in.Broker}, extra...)
	cmd := exec.Command(in.Bin, args...)
	log := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &Process{Cmd: cmd, Log: log}
	tb.Cleanup(func() { p.Kill() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(in.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if cmd.ProcessState != nil || ctx.Err() != nil {
			tb.Fatalf("serve did not become ready: %v\n%s", ctx.Err(), log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var activationLine = regexp.MustCompile(`(?m)^activation look-ups on http://(\S+)$`)

// ActivationURL waits (10 s at most) for the line serve prints once the
// activation listener (--activation-addr) serves, and returns its base URL.
func (p *Process) ActivationURL(tb testing.TB) string {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if m := activationLine.FindStringSubmatch(p.Log.String()); m != nil {
			return "http://" + m[1]
		}
		if time.Now().After(deadline) {
			tb.Fatalf("serve printed no activation address:\n%s", p.Log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill sends SIGKILL (kill -9) and waits for the process to exit.
func (p *Process) Kill() {
	if p.Cmd.Process != nil && p.Cmd.ProcessState == nil {
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
		_ = p.Cmd.Wait()
	}
}

// Stop sends SIGTERM and waits up to 30 s for a graceful exit.
func (p *Process) Stop(tb testing.TB) {
	tb.Helper()
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			tb.Fatalf("serve exited with %v\n%s", err, p.Log.String())
		}
	case <-time.After(30 * time.Second):
		p.Kill()
		tb.Fatalf("serve did not stop within 30 s of SIGTERM\n%s", p.Log.String())
	}
}

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

// Lines returns the log's lines.
func (b *SyncBuffer) Lines() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

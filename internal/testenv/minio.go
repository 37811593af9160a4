package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// MinIO is a MinIO server owned by one test.
type MinIO struct {
	// Endpoint is host:port of the S3 API.
	Endpoint  string
	AccessKey string
	SecretKey string

	bin, dir string
	console  string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// MinIOBinary returns the MinIO server binary: $TRIBUTARY_MINIO, or the
// one install-deps.sh caches under ~/.cache/tributary/bin.
func MinIOBinary() (string, error) {
	bin := os.Getenv("TRIBUTARY_MINIO")
	if bin == "" {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(home, ".cache", "tributary", "bin", "minio")
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("MinIO server binary %s not found (run internal/testenv/install-deps.sh or set TRIBUTARY_MINIO): %w", bin, err)
	}
	return bin, nil
}

// StartMinIO starts a MinIO server with an empty data directory on a free
// loopback port; it is stopped when the test ends.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	m, err := RunMinIO(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

// RunMinIO starts a MinIO server storing into dir (benchmarks use it
// outside tests); the caller stops it.
func RunMinIO(dir string) (*MinIO, error) {
	bin, err := MinIOBinary()
	if err != nil {
		return nil, err
	}
	p1, err := freePort()
	if err != nil {
		return nil, err
	}
	p2, err := freePort()
	if err != nil {
		return nil, err
	}
	m := &MinIO{
		Endpoint:  "127.0.0.1:" + strconv.Itoa(p1),
		console:   "127.0.0.1:" + strconv.Itoa(p2),
		AccessKey: "tributary-test",
		SecretKey: "tributary-test-secret",
		bin:       bin,
		dir:       filepath.Join(dir, "data"),
	}
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		return nil, err
	}
	if err := m.Start(); err != nil {
		return nil, err
	}
	return m, nil
}

// Start (re)starts the server on the same port and data directory and
// waits until it is live.
func (m *MinIO) Start() error {
	if m.cmd != nil {
		return nil
	}
	cmd := exec.Command(m.bin, "server", m.dir, "--address", m.Endpoint, "--console-address", m.console, "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey,
		"MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	logf, err := os.Create(filepath.Join(m.dir, "..", "minio-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".log"))
	if err == nil {
		cmd.Stdout, cmd.Stderr = logf, logf
		defer logf.Close()
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start MinIO: %w", err)
	}
	m.cmd = cmd
	m.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(m.exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.Endpoint+"/minio/health/cluster", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-m.exited:
			m.cmd = nil
			return fmt.Errorf("MinIO exited during start-up (log in %s)", filepath.Dir(m.dir))
		case <-ctx.Done():
			m.Stop()
			return fmt.Errorf("MinIO on %s not live after 60s: %v", m.Endpoint, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop kills the server (the data directory stays for a restart).
func (m *MinIO) Stop() {
	if m.cmd == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	<-m.exited
	m.cmd = nil
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

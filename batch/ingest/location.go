package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/s3"
)

// RemoteFile is a file found at a source's location.
type RemoteFile struct {
	// Name is the path relative to the location.
	Name    string
	Size    int64
	ModTime time.Time
}

// Location is where a source's files are dropped.
type Location interface {
	// List returns the files under the location, recursively, sorted by
	// name. Hidden files and *.tmp / *.part files (uploads in progress)
	// are left out.
	List(ctx context.Context) ([]RemoteFile, error)
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	Close() error
}

// LocationConfig holds what locations need besides their URL.
type LocationConfig struct {
	// S3 is the endpoint and credentials for s3:// locations (Bucket and
	// Prefix come from the URL).
	S3 s3.Config
	// SFTPKeyFile is the private key for sftp:// locations.
	SFTPKeyFile string
	// SFTPKnownHosts pins server keys; empty accepts any host key.
	SFTPKnownHosts string
	// Timeout bounds connecting to a remote location.
	Timeout time.Duration
}

func skipName(name string) bool {
	base := path.Base(name)
	return strings.HasPrefix(base, ".") || strings.HasSuffix(base, ".tmp") || strings.HasSuffix(base, ".part")
}

// OpenLocation connects to the location at rawURL.
func OpenLocation(ctx context.Context, rawURL string, cfg LocationConfig) (Location, error) {
	if err := validLocation(rawURL); err != nil {
		return nil, err
	}
	u, _ := url.Parse(rawURL)
	switch u.Scheme {
	case "file":
		return &dirLocation{root: filepath.FromSlash(u.Path)}, nil
	case "s3":
		sc := cfg.S3
		sc.CreateBucket = false
		if sc.MaxRetries < 1 {
			sc.MaxRetries = 3
		}
		if err := sc.ParseURL(rawURL); err != nil {
			return nil, err
		}
		st, err := s3.New(ctx, sc)
		if err != nil {
			return nil, err
		}
		return &storageLocation{st: st}, nil
	case "sftp":
		return dialSFTP(ctx, u, cfg)
	}
	return nil, fmt.Errorf("location %q: unsupported scheme", rawURL)
}

// dirLocation is a local drop directory.
type dirLocation struct{ root string }

func (d *dirLocation) List(ctx context.Context) ([]RemoteFile, error) {
	var out []RemoteFile
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			if p != d.root && strings.HasPrefix(e.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(d.root, p)
		rel = filepath.ToSlash(rel)
		if skipName(rel) || !e.Type().IsRegular() {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		out = append(out, RemoteFile{Name: rel, Size: fi.Size(), ModTime: fi.ModTime().UTC()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.root, err)
	}
	return out, nil
}

func (d *dirLocation) Open(_ context.Context, name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.root, filepath.FromSlash(name)))
}

func (d *dirLocation) Close() error { return nil }

// storageLocation is a prefix of an object store.
type storageLocation struct{ st lake.Storage }

func (s *storageLocation) List(ctx context.Context) ([]RemoteFile, error) {
	objs, err := s.st.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []RemoteFile
	for _, o := range objs {
		if !skipName(o.Key) {
			out = append(out, RemoteFile{Name: o.Key, Size: o.Size, ModTime: o.ModTime})
		}
	}
	return out, nil
}

func (s *storageLocation) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return s.st.Get(ctx, name)
}

func (s *storageLocation) Close() error { return nil }

// sftpLocation is a directory on an SFTP server.
type sftpLocation struct {
	ssh  *ssh.Client
	c    *sftp.Client
	root string
	addr string
}

func dialSFTP(ctx context.Context, u *url.URL, cfg LocationConfig) (*sftpLocation, error) {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "22")
	}
	if cfg.SFTPKeyFile == "" {
		return nil, fmt.Errorf("sftp %s: no key file configured (set sources.sftp_key_file in the config)", addr)
	}
	key, err := os.ReadFile(cfg.SFTPKeyFile)
	if err != nil {
		return nil, fmt.Errorf("sftp %s: read key file: %w", addr, err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("sftp %s: parse key file %s: %w", addr, cfg.SFTPKeyFile, err)
	}
	hostKey := ssh.InsecureIgnoreHostKey()
	if cfg.SFTPKnownHosts != "" {
		if hostKey, err = knownhosts.New(cfg.SFTPKnownHosts); err != nil {
			return nil, fmt.Errorf("sftp %s: read known hosts %s: %w", addr, cfg.SFTPKnownHosts, err)
		}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sftp %s: %w", addr, err)
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:            u.User.Username(),
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKey,
		Timeout:         timeout,
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sftp %s: ssh handshake as %s: %w", addr, u.User.Username(), err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	c, err := sftp.NewClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("sftp %s: start sftp subsystem: %w", addr, err)
	}
	root := u.Path
	if root == "" {
		root = "."
	}
	return &sftpLocation{ssh: client, c: c, root: root, addr: addr}, nil
}

func (s *sftpLocation) List(ctx context.Context) ([]RemoteFile, error) {
	var out []RemoteFile
	w := s.c.Walk(s.root)
	for w.Step() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := w.Err(); err != nil {
			return nil, fmt.Errorf("sftp %s: list %s: %w", s.addr, w.Path(), err)
		}
		fi := w.Stat()
		rel := strings.TrimPrefix(strings.TrimPrefix(w.Path(), s.root), "/")
		if fi.IsDir() {
			if rel != "" && strings.HasPrefix(fi.Name(), ".") {
				w.SkipDir()
			}
			continue
		}
		if rel == "" || skipName(rel) || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, RemoteFile{Name: rel, Size: fi.Size(), ModTime: fi.ModTime().UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *sftpLocation) Open(_ context.Context, name string) (io.ReadCloser, error) {
	f, err := s.c.Open(path.Join(s.root, name))
	if err != nil {
		return nil, fmt.Errorf("sftp %s: open %s: %w", s.addr, name, err)
	}
	return f, nil
}

func (s *sftpLocation) Close() error {
	return errors.Join(s.c.Close(), s.ssh.Close())
}

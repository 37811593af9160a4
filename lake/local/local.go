// Package local is the lake on a local filesystem: one file per key under
// a root directory. Put writes a temporary file in the target directory,
// syncs it and renames it into place; PutIfAbsent links it into place,
// which fails when the name is taken.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tributary-cdp/tributary/lake"
)

// tmpPrefix marks files being written; List skips them.
const tmpPrefix = ".tmp-"

// Storage is a lake.Storage rooted at a directory.
type Storage struct {
	root string
}

var _ lake.Storage = (*Storage)(nil)
var _ lake.LocalPather = (*Storage)(nil)

// New opens (and creates) the lake rooted at dir.
func New(dir string) (*Storage, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open local lake %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create local lake %s: %w", abs, err)
	}
	return &Storage{root: abs}, nil
}

// Root is the directory holding the lake.
func (s *Storage) Root() string { return s.root }

func (s *Storage) String() string { return "file://" + filepath.ToSlash(s.root) }

// LocalPath is the file holding key.
func (s *Storage) LocalPath(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

func (s *Storage) path(key string) (string, error) {
	if err := lake.ValidKey(key); err != nil {
		return "", err
	}
	return s.LocalPath(key), nil
}

// writeTemp copies r into a synced temporary file next to dst.
func (s *Storage) writeTemp(ctx context.Context, dst string, r io.Reader) (string, error) {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, tmpPrefix+filepath.Base(dst)+"-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// Put writes r to key atomically (temporary file, fsync, rename).
func (s *Storage) Put(ctx context.Context, key string, r io.Reader) error {
	dst, err := s.path(key)
	if err != nil {
		return err
	}
	tmp, err := s.writeTemp(ctx, dst, r)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, err)
	}
	syncDir(filepath.Dir(dst))
	return nil
}

// PutIfAbsent writes r to key unless key exists (temporary file, link).
func (s *Storage) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	dst, err := s.path(key)
	if err != nil {
		return err
	}
	tmp, err := s.writeTemp(ctx, dst, r)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put %s: %w", key, lake.ErrExist)
		}
		return fmt.Errorf("put %s: %w", key, err)
	}
	syncDir(filepath.Dir(dst))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Get opens key for reading.
func (s *Storage) Get(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return f, nil
}

// Stat describes key.
func (s *Storage) Stat(_ context.Context, key string) (lake.ObjectInfo, error) {
	p, err := s.path(key)
	if err != nil {
		return lake.ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return lake.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if fi.IsDir() {
		return lake.ObjectInfo{}, fmt.Errorf("stat %s: is a directory: %w", key, fs.ErrNotExist)
	}
	return info(key, fi), nil
}

func info(key string, fi fs.FileInfo) lake.ObjectInfo {
	return lake.ObjectInfo{
		Key:     key,
		Size:    fi.Size(),
		ModTime: fi.ModTime().UTC(),
		ETag:    strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16),
	}
}

// List walks the directory of prefix and returns the keys that start with it.
func (s *Storage) List(ctx context.Context, prefix string) ([]lake.ObjectInfo, error) {
	if strings.HasPrefix(prefix, "/") || strings.Contains(prefix, "..") {
		return nil, &lake.KeyError{Key: prefix, Reason: "is not a clean relative prefix"}
	}
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	var out []lake.ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		out = append(out, info(key, fi))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes key; a missing key is not an error. Directories left
// empty are removed too.
func (s *Storage) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	for dir := filepath.Dir(p); dir != s.root && strings.HasPrefix(dir, s.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

package lake

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// LocalFiles returns local file paths of the committed files of table, for
// readers that need files on disk (DuckDB has no S3 access offline). On a
// local lake they are the files themselves; on a remote lake each file is
// downloaded once into cacheDir and reused while its ETag is unchanged.
// The manifest version read is returned too, so a reader can say what it
// saw.
func LocalFiles(ctx context.Context, st Storage, table, cacheDir string) ([]string, *Manifest, error) {
	m, err := LatestManifest(ctx, st, table)
	if err != nil {
		return nil, nil, err
	}
	paths := make([]string, 0, len(m.Files))
	for _, f := range m.Files {
		p, err := LocalPath(ctx, st, f.Path, cacheDir)
		if err != nil {
			return nil, nil, err
		}
		paths = append(paths, p)
	}
	return paths, m, nil
}

// LocalPath returns a local path holding key: the file itself on a local
// lake, else a copy in cacheDir refreshed when the object's ETag changes.
func LocalPath(ctx context.Context, st Storage, key, cacheDir string) (string, error) {
	if lp, ok := st.(LocalPather); ok {
		return lp.LocalPath(key), nil
	}
	if err := ValidKey(key); err != nil {
		return "", err
	}
	if cacheDir == "" {
		return "", fmt.Errorf("localize %s: the lake %s is remote and no cache directory was given", key, st)
	}
	info, err := st.Stat(ctx, key)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(cacheDir, filepath.FromSlash(key))
	tagFile := dst + ".etag"
	if b, err := os.ReadFile(tagFile); err == nil && strings.TrimSpace(string(b)) == info.ETag {
		if _, err := os.Stat(dst); err == nil {
			return dst, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("localize %s: %w", key, err)
	}
	rc, err := st.Get(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".download-*")
	if err != nil {
		return "", fmt.Errorf("localize %s: %w", key, err)
	}
	_, err = io.Copy(tmp, rc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("localize %s: %w", key, err)
	}
	if err := os.WriteFile(tagFile, []byte(info.ETag), 0o644); err != nil {
		return "", fmt.Errorf("localize %s: %w", key, err)
	}
	return dst, nil
}

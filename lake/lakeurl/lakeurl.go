// Package lakeurl opens a lake.Storage from its URL: file:///path for
// the local backend, s3://bucket/prefix for any S3-compatible store.
package lakeurl

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
	"github.com/tributary-cdp/tributary/lake/s3"
)

// Open opens the lake at rawURL. For s3:// URLs, s3cfg supplies the
// endpoint and credentials; its Bucket and Prefix come from the URL.
func Open(ctx context.Context, rawURL string, s3cfg s3.Config) (lake.Storage, error) {
	switch {
	case strings.HasPrefix(rawURL, "file://"):
		u, err := url.Parse(rawURL)
		if err != nil || (u.Host != "" && u.Host != "localhost") {
			return nil, fmt.Errorf("lake URL %q: want file:///absolute/path", rawURL)
		}
		return local.New(filepath.FromSlash(u.Path))
	case strings.HasPrefix(rawURL, "s3://"):
		if err := s3cfg.ParseURL(rawURL); err != nil {
			return nil, err
		}
		return s3.New(ctx, s3cfg)
	}
	return nil, fmt.Errorf("lake URL %q: want file:///path or s3://bucket/prefix", rawURL)
}

// Package s3 is the lake on any S3-compatible object store, through
// minio-go. Put is a single PutObject (S3 makes an object visible only
// when its upload completes); PutIfAbsent is a conditional PUT with
// If-None-Match: *, which MinIO and AWS S3 both honour.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tributary-cdp/tributary/lake"
)

// Config locates a bucket and a prefix on an S3-compatible endpoint.
type Config struct {
	// Endpoint is host:port of the S3 API ("s3.amazonaws.com", "127.0.0.1:9000").
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
	// Secure selects HTTPS.
	Secure bool
	Bucket string
	// Prefix is prepended to every key ("" or "lake", no slashes around).
	Prefix string
	// CreateBucket creates the bucket when it does not exist.
	CreateBucket bool
	// MaxRetries of each request (1 = no retry); keeps an outage from
	// stalling a run for long.
	MaxRetries int
}

// DefaultConfig is AWS S3 over HTTPS with 3 tries per request.
func DefaultConfig() Config {
	return Config{Endpoint: "s3.amazonaws.com", Secure: true, CreateBucket: true, MaxRetries: 3}
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Endpoint == "" {
		return errors.New("s3 lake: endpoint is empty")
	}
	if c.Bucket == "" {
		return errors.New("s3 lake: bucket is empty")
	}
	if strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/") {
		return fmt.Errorf("s3 lake: prefix %q must not start or end with /", c.Prefix)
	}
	if c.MaxRetries < 1 {
		return fmt.Errorf("s3 lake: max retries %d must be at least 1", c.MaxRetries)
	}
	return nil
}

// ParseURL fills Bucket and Prefix from s3://bucket/prefix.
func (c *Config) ParseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return fmt.Errorf("s3 URL %q: want s3://bucket/prefix", raw)
	}
	c.Bucket = u.Host
	c.Prefix = strings.Trim(u.Path, "/")
	return nil
}

// Storage is a lake.Storage in one bucket under one prefix.
type Storage struct {
	cfg    Config
	client *minio.Client
}

var _ lake.Storage = (*Storage)(nil)

// New connects and, with CreateBucket, creates the bucket.
func New(ctx context.Context, cfg Config) (*Storage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     cfg.Secure,
		Region:     cfg.Region,
		MaxRetries: cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 lake %s: %w", cfg.Endpoint, err)
	}
	s := &Storage{cfg: cfg, client: client}
	if cfg.CreateBucket {
		ok, err := client.BucketExists(ctx, cfg.Bucket)
		if err != nil {
			return nil, s.wrap("open bucket", cfg.Bucket, err)
		}
		if !ok {
			err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
			if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
				return nil, s.wrap("create bucket", cfg.Bucket, err)
			}
		}
	}
	return s, nil
}

// Client is the underlying minio-go client.
func (s *Storage) Client() *minio.Client { return s.client }

func (s *Storage) String() string {
	if s.cfg.Prefix == "" {
		return "s3://" + s.cfg.Bucket
	}
	return "s3://" + s.cfg.Bucket + "/" + s.cfg.Prefix
}

func (s *Storage) object(key string) string {
	if s.cfg.Prefix == "" {
		return key
	}
	return s.cfg.Prefix + "/" + key
}

func (s *Storage) key(object string) string {
	if s.cfg.Prefix == "" {
		return object
	}
	return strings.TrimPrefix(object, s.cfg.Prefix+"/")
}

// wrap names the operation and the endpoint, and maps "no such key" to
// fs.ErrNotExist and a failed precondition to fs.ErrExist.
func (s *Storage) wrap(op, key string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == minio.NoSuchKey || resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket:
		return fmt.Errorf("%s %s: %w", op, key, fs.ErrNotExist)
	case resp.Code == minio.PreconditionFailed || resp.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%s %s: %w", op, key, fs.ErrExist)
	}
	return fmt.Errorf("%s %s on S3 endpoint %s (bucket %s): %w", op, key, s.cfg.Endpoint, s.cfg.Bucket, err)
}

type sizer interface{ Size() int64 }

// Put uploads r; the object appears when the upload completes.
func (s *Storage) Put(ctx context.Context, key string, r io.Reader) error {
	if err := lake.ValidKey(key); err != nil {
		return err
	}
	size := int64(-1)
	if sz, ok := r.(sizer); ok {
		size = sz.Size()
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableContentSha256: true}
	if size < 0 {
		// Buffer small objects so they go up in one PUT.
		b, err := io.ReadAll(io.LimitReader(r, 32<<20))
		if err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		if len(b) < 32<<20 {
			r, size = bytes.NewReader(b), int64(len(b))
		} else {
			r = io.MultiReader(bytes.NewReader(b), r)
		}
	}
	if _, err := s.client.PutObject(ctx, s.cfg.Bucket, s.object(key), r, size, opts); err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// PutIfAbsent uploads r in one conditional PUT (If-None-Match: *).
func (s *Storage) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	if err := lake.ValidKey(key); err != nil {
		return err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true}
	opts.SetMatchETagExcept("*")
	if _, err := s.client.PutObject(ctx, s.cfg.Bucket, s.object(key), bytes.NewReader(b), int64(len(b)), opts); err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// Get opens the object; a missing key fails here, not on the first Read.
func (s *Storage) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := lake.ValidKey(key); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.cfg.Bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s.wrap("get", key, err)
	}
	return obj, nil
}

// Stat describes the object.
func (s *Storage) Stat(ctx context.Context, key string) (lake.ObjectInfo, error) {
	if err := lake.ValidKey(key); err != nil {
		return lake.ObjectInfo{}, err
	}
	oi, err := s.client.StatObject(ctx, s.cfg.Bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return lake.ObjectInfo{}, s.wrap("stat", key, err)
	}
	return lake.ObjectInfo{Key: key, Size: oi.Size, ModTime: oi.LastModified.UTC(), ETag: oi.ETag}, nil
}

// List lists recursively under prefix.
func (s *Storage) List(ctx context.Context, prefix string) ([]lake.ObjectInfo, error) {
	full := s.cfg.Prefix
	if full != "" {
		full += "/"
	}
	full += prefix
	var out []lake.ObjectInfo
	for oi := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
		if oi.Err != nil {
			return nil, s.wrap("list", prefix, oi.Err)
		}
		if strings.HasSuffix(oi.Key, "/") {
			continue
		}
		out = append(out, lake.ObjectInfo{Key: s.key(oi.Key), Size: oi.Size, ModTime: oi.LastModified.UTC(), ETag: oi.ETag})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes the object; S3 treats a missing key as success.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := lake.ValidKey(key); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, s.object(key), minio.RemoveObjectOptions{}); err != nil {
		err = s.wrap("delete", key, err)
		if lake.IsNotExist(err) {
			return nil
		}
		return err
	}
	return nil
}

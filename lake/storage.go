package lake

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"time"
)

// Storage is a flat key space of immutable-looking objects. Keys are
// slash-separated relative paths ("raw/events/workspace=w/…"), never
// starting with "/" and never containing "." or ".." segments.
type Storage interface {
	// Put stores r under key atomically: readers see the old object, or
	// none, until the whole new object is there.
	Put(ctx context.Context, key string, r io.Reader) error
	// PutIfAbsent is Put that fails with an error matching ErrExist when
	// key already exists. Of two concurrent callers at most one succeeds.
	PutIfAbsent(ctx context.Context, key string, r io.Reader) error
	// Get opens the object; a missing key gives an error matching
	// fs.ErrNotExist (see IsNotExist).
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes the object; a missing key gives an error matching
	// fs.ErrNotExist.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns every object whose key starts with prefix, at any
	// depth, sorted by key. Objects being written are not listed.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// String is the URL the storage was opened with.
	String() string
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
	// ETag changes whenever the content changes (S3 ETag; locally derived
	// from size and modification time).
	ETag string
}

// LocalPather is implemented by storages whose objects are plain local
// files, so readers such as DuckDB can open them in place.
type LocalPather interface {
	LocalPath(key string) string
}

// ErrExist is returned by PutIfAbsent when the key is already taken.
var ErrExist = fs.ErrExist

// IsNotExist reports whether err means the object does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// IsExist reports whether err means the key is already taken.
func IsExist(err error) bool { return errors.Is(err, fs.ErrExist) }

// KeyError is returned for a key that is not a valid lake key.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string { return "lake key " + quote(e.Key) + ": " + e.Reason }

func quote(s string) string { return "\"" + s + "\"" }

// ValidKey checks that key is a clean relative slash path.
func ValidKey(key string) error {
	if key == "" {
		return &KeyError{key, "is empty"}
	}
	if strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return &KeyError{key, "must not start or end with /"}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "", ".", "..":
			return &KeyError{key, "has an empty, . or .. segment"}
		}
		if strings.ContainsAny(seg, "\\\x00") {
			return &KeyError{key, "contains a backslash or NUL"}
		}
	}
	return nil
}

// ReadObject returns the whole content of key.
func ReadObject(ctx context.Context, st Storage, key string) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return b, nil
}

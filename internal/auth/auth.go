// Package auth maps write keys and API keys to workspaces and roles.
package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"sync/atomic"

	cdp "github.com/tributary-cdp/tributary"
)

// Keys indexes every key in the config. Set replaces them all at once
// while requests are served, so a revoked key stops working without a
// restart.
type Keys struct{ idx atomic.Pointer[keyIndex] }

// keyIndex is one immutable generation of the keys.
type keyIndex struct {
	write map[string]string        // write key → workspace
	api   map[string]cdp.Principal // "sha256:<hex>" → principal
}

// NewKeys indexes the keys of the workspaces.
func NewKeys(ws []cdp.Workspace) *Keys {
	k := &Keys{}
	k.Set(ws)
	return k
}

// Set replaces every key by those of ws; requests that read the keys
// after it returns see only the new ones.
func (k *Keys) Set(ws []cdp.Workspace) {
	idx := &keyIndex{write: map[string]string{}, api: map[string]cdp.Principal{}}
	for _, w := range ws {
		for _, wk := range w.WriteKeys {
			idx.write[wk] = w.ID
		}
		for _, ak := range w.APIKeys {
			h := ak.Hash
			if h == "" {
				h = hash(ak.Key)
			}
			idx.api[h] = cdp.Principal{Workspace: w.ID, Role: ak.Role, KeyName: ak.Name}
		}
	}
	k.idx.Store(idx)
}

func hash(key string) string {
	var b [hashLen]byte
	return string(appendHash(b[:0], key))
}

// hashLen is the length of "sha256:<hex>".
const hashLen = len("sha256:") + 2*sha256.Size

// appendHash appends "sha256:<hex of the key's SHA-256>" to b.
func appendHash(b []byte, key string) []byte {
	sum := sha256.Sum256([]byte(key))
	b = append(b, "sha256:"...)
	return hex.AppendEncode(b, sum[:])
}

// Workspace returns the workspace of a write key.
func (k *Keys) Workspace(writeKey string) (string, bool) {
	ws, ok := k.idx.Load().write[writeKey]
	return ws, ok
}

// API returns the principal of an API key (compared by hash).
func (k *Keys) API(key string) (cdp.Principal, bool) {
	if key == "" {
		return cdp.Principal{}, false
	}
	// Looked up by hash: the plain key is never stored nor compared. The
	// hash is built on the stack and the map read with string(b), which
	// does not allocate: every look-up request passes here.
	var b [hashLen]byte
	p, ok := k.idx.Load().api[string(appendHash(b[:0], key))]
	return p, ok
}

// Bearer extracts the token of "Authorization: Bearer <token>".
func Bearer(r *http.Request) string { return BearerToken(r.Header.Get("Authorization")) }

// BearerToken extracts the token of an Authorization value "Bearer
// <token>". The scheme is case-insensitive (RFC 9110 §11.1): some
// clients send "bearer".
func BearerToken(authorization string) string {
	const scheme = "Bearer "
	if len(authorization) > len(scheme) && strings.EqualFold(authorization[:len(scheme)], scheme) {
		return strings.TrimSpace(authorization[len(scheme):])
	}
	return ""
}

// Token extracts the API key of an Authorization value: "Bearer <key>",
// or "Basic <base64 of key:>", the key as user name and no password, as
// clients of Segment's Profile API send their access token.
func Token(authorization string) string {
	if t := BearerToken(authorization); t != "" {
		return t
	}
	const scheme = "Basic "
	if len(authorization) <= len(scheme) || !strings.EqualFold(authorization[:len(scheme)], scheme) {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(authorization[len(scheme):]))
	if err != nil {
		return ""
	}
	user, password, ok := strings.Cut(string(b), ":")
	if !ok || password != "" {
		return ""
	}
	return user
}

// Principal authenticates r by its bearer API key.
func (k *Keys) Principal(r *http.Request) (cdp.Principal, error) {
	p, ok := k.API(Bearer(r))
	if !ok {
		return cdp.Principal{}, cdp.ErrUnauthorized
	}
	return p, nil
}

package config

import (
	"errors"
	"testing"
)

func TestActivationAddr(t *testing.T) {
	for _, c := range []struct {
		addr string
		ok   bool
	}{{"", true}, {"127.0.0.1:8081", true}, {":0", true}, {"8081", false}, {"localhost", false}} {
		cfg := Default()
		cfg.DataDir = t.TempDir()
		cfg.HTTP.ActivationAddr = c.addr
		err := cfg.Validate()
		var fe *FieldError
		if c.ok != (err == nil) || err != nil && (!errors.As(err, &fe) || fe.Key != "http.activation_addr") {
			t.Errorf("http.activation_addr %q: %v", c.addr, err)
		}
	}
}

func TestGCHeadroom(t *testing.T) {
	for _, c := range []struct {
		mib int
		ok  bool
	}{{0, true}, {512, true}, {1 << 20, true}, {-1, false}, {1<<20 + 1, false}} {
		cfg := Default()
		cfg.DataDir = t.TempDir()
		cfg.Speed.GCHeadroomMiB = c.mib
		err := cfg.Validate()
		var fe *FieldError
		if c.ok != (err == nil) || err != nil && (!errors.As(err, &fe) || fe.Key != "speed.gc_headroom_mib") {
			t.Errorf("speed.gc_headroom_mib %d: %v", c.mib, err)
		}
	}
}

package config

import (
	"errors"
	"fmt"
	"testing"
)

// checkField validates the default config changed by set and wants an
// error for key, and only for it, exactly when ok is false.
func checkField(t *testing.T, key, value string, ok bool, set func(*Config)) {
	t.Helper()
	cfg := Default()
	cfg.DataDir = t.TempDir()
	set(&cfg)
	err := cfg.Validate()
	var fe *FieldError
	if ok != (err == nil) || err != nil && (!errors.As(err, &fe) || fe.Key != key) {
		t.Errorf("%s %s: %v", key, value, err)
	}
}

func TestActivationAddr(t *testing.T) {
	for _, c := range []struct {
		addr string
		ok   bool
	}{{"", true}, {"127.0.0.1:8081", true}, {":0", true}, {"8081", false}, {"localhost", false}} {
		checkField(t, "http.activation_addr", fmt.Sprintf("%q", c.addr), c.ok, func(cfg *Config) { cfg.HTTP.ActivationAddr = c.addr })
	}
}

func TestGCHeadroom(t *testing.T) {
	for _, c := range []struct {
		mib int
		ok  bool
	}{{0, true}, {512, true}, {1 << 20, true}, {-1, false}, {1<<20 + 1, false}} {
		checkField(t, "speed.gc_headroom_mib", fmt.Sprint(c.mib), c.ok, func(cfg *Config) { cfg.Speed.GCHeadroomMiB = c.mib })
	}
}

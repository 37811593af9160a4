package config

import (
	"errors"
	"fmt"
	"testing"

	cdp "github.com/tributary-cdp/tributary"
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
	}{{"", true}, {"127.0.0.1:8081", true}, {":0", true}, {"8081", false}, {"localhost", false}, {"127.0.0.1:99999", false}, {":-1", false}} {
		checkField(t, "http.activation_addr", fmt.Sprintf("%q", c.addr), c.ok, func(cfg *Config) { cfg.HTTP.ActivationAddr = c.addr })
	}
	for _, c := range []struct {
		addr string
		ok   bool
	}{{"127.0.0.1:65535", true}, {"localhost:http", true}, {"127.0.0.1:99999", false}, {"127.0.0.1", false}} {
		checkField(t, "http.addr", fmt.Sprintf("%q", c.addr), c.ok, func(cfg *Config) { cfg.HTTP.Addr = c.addr })
		checkField(t, "kafka.embedded_addr", fmt.Sprintf("%q", c.addr), c.ok, func(cfg *Config) { cfg.Kafka.EmbeddedAddr = c.addr })
		checkField(t, "kafka.brokers[1]", fmt.Sprintf("%q", c.addr), c.ok, func(cfg *Config) { cfg.Kafka.Brokers = []string{"k1:9092", c.addr} })
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

func TestPhoneRegion(t *testing.T) {
	if got := Default().Identity.PhoneRegion; got != "US" {
		t.Errorf("default identity.phone_region = %q, want US", got)
	}
	for _, c := range []struct {
		region string
		ok     bool
	}{{"US", true}, {"GB", true}, {"DE", true}, {"", false}, {"gb", false}, {"UK", false}, {"GBR", false}} {
		checkField(t, "identity.phone_region", fmt.Sprintf("%q", c.region), c.ok, func(cfg *Config) { cfg.Identity.PhoneRegion = c.region })
	}
	_, err := Parse([]byte("identity: {phone_region: UK}\n"))
	if want := `config identity.phone_region: "UK" is not a region libphonenumber supports: want an ISO 3166-1 alpha-2 code in upper case, such as US, GB or DE`; fmt.Sprint(err) != want {
		t.Errorf("phone_region UK: %v, want %s", err, want)
	}
}

// A workspace may read its numbers in a region of its own; one left out
// reads identity.phone_region, and so does every layer (PhoneRegions).
func TestWorkspacePhoneRegion(t *testing.T) {
	for _, c := range []struct {
		region string
		ok     bool
	}{{"", true}, {"GB", true}, {"US", true}, {"gb", false}, {"UK", false}, {"GBR", false}} {
		checkField(t, "workspaces[1].phone_region", fmt.Sprintf("%q", c.region), c.ok, func(cfg *Config) {
			cfg.Workspaces = []cdp.Workspace{{ID: "us"}, {ID: "uk", PhoneRegion: c.region}}
		})
	}
	_, err := Parse([]byte("workspaces:\n  - id: us\n  - id: uk\n    phone_region: UK\n"))
	if want := `config workspaces[1].phone_region: "UK" is not a region libphonenumber supports: want an ISO 3166-1 alpha-2 code in upper case, such as US, GB or DE; leave it out for identity.phone_region`; fmt.Sprint(err) != want {
		t.Errorf("phone_region UK: %v, want %s", err, want)
	}
	cfg, err := Parse([]byte("identity: {phone_region: DE}\nworkspaces:\n  - id: de\n  - id: uk\n    phone_region: GB\n  - id: de2\n    phone_region: DE\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.PhoneRegions()
	for ws, want := range map[string]string{"de": "DE", "uk": "GB", "de2": "DE", "gone": "DE"} {
		if got := r.Of(ws); got != want {
			t.Errorf("region of workspace %s = %q, want %q", ws, got, want)
		}
	}
	if len(r.Workspaces) != 1 {
		t.Errorf("workspaces with a region of their own: %v, want uk alone (the others read the default)", r.Workspaces)
	}
}

// Allow entries must take a value off the built-in blocklist, one the
// configured blocklist does not block again.
func TestAllow(t *testing.T) {
	for _, c := range []struct {
		allow []string
		ok    bool
	}{
		{nil, true}, {[]string{"user_id:1", "test"}, true},
		{[]string{"user_id:42"}, false}, {[]string{""}, false}, {[]string{"unknown"}, false},
	} {
		checkField(t, "speed.allow[0]", fmt.Sprintf("%q", c.allow), c.ok, func(cfg *Config) {
			cfg.Speed.Blocklist, cfg.Speed.Allow = []string{"unknown"}, c.allow
		})
	}
	_, err := Parse([]byte("speed: {allow: [user_id:1, user_id:42]}\n"))
	if want := `config speed.allow[1]: "user_id:42" is not blocked by the built-in list: nothing to allow`; fmt.Sprint(err) != want {
		t.Errorf("allow user_id:42: %v, want %s", err, want)
	}
}

func TestCORSOrigins(t *testing.T) {
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{"*", true}, {"https://shop.example", true}, {"http://127.0.0.1:3000", true},
		{"shop.example", false}, {"https://shop.example/", false}, {"https://shop.example/cart", false},
		{"ftp://shop.example", false}, {"https://", false}, {"https://u@shop.example", false}, {"", false},
	} {
		checkField(t, "http.cors_origins[1]", fmt.Sprintf("%q", c.origin), c.ok, func(cfg *Config) { cfg.HTTP.CORSOrigins = []string{"*", c.origin} })
	}
	for yml, want := range map[string][]string{"": nil, "http: {cors_origins: []}\n": {}, "http: {cors_origins: [\"https://a.example\"]}\n": {"https://a.example"}} {
		cfg, err := Parse([]byte(yml))
		if err != nil || (cfg.HTTP.CORSOrigins == nil) != (want == nil) || fmt.Sprint(cfg.HTTP.CORSOrigins) != fmt.Sprint(want) {
			t.Errorf("%q: origins %#v, %v", yml, cfg.HTTP.CORSOrigins, err)
		}
	}
}

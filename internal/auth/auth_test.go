package auth

import (
	"encoding/base64"
	"net/http"
	"testing"

	cdp "github.com/tributary-cdp/tributary"
)

func TestAPIKeysByHash(t *testing.T) {
	k := NewKeys([]cdp.Workspace{{ID: "w1", APIKeys: []cdp.APIKey{
		{Name: "plain", Role: cdp.RoleActivation, Key: "secret-1"},
		{Name: "hashed", Role: cdp.RoleAdmin, Hash: hash("secret-2")},
	}}})
	if h := hash("abc"); h != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("hash(abc) = %s", h)
	}
	for key, want := range map[string]cdp.Principal{
		"secret-1": {Workspace: "w1", Role: cdp.RoleActivation, KeyName: "plain"},
		"secret-2": {Workspace: "w1", Role: cdp.RoleAdmin, KeyName: "hashed"},
	} {
		if got, ok := k.API(key); !ok || got != want {
			t.Errorf("API(%q) = %+v, %v; want %+v", key, got, ok, want)
		}
	}
	for _, bad := range []string{"", "secret-3", "sha256:" + hash("secret-1")[7:]} {
		if p, ok := k.API(bad); ok {
			t.Errorf("API(%q) = %+v, want no principal", bad, p)
		}
	}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	for _, h := range []string{"Bearer  secret-1 ", "bearer secret-1", "BEARER secret-1"} {
		r.Header.Set("Authorization", h)
		if p, err := k.Principal(r); err != nil || p.KeyName != "plain" {
			t.Errorf("Principal with %q = %+v, %v", h, p, err)
		}
	}
	for _, h := range []string{"secret-1", "Basic secret-1", "Bearer", "Bearersecret-1"} {
		if tok := BearerToken(h); tok != "" {
			t.Errorf("BearerToken(%q) = %q, want none", h, tok)
		}
	}
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for h, want := range map[string]string{
		"Bearer secret-1":                  "secret-1",
		basic("secret-1:"):                 "secret-1",
		"basic  " + basic("secret-1:")[6:]: "secret-1",
		basic("secret-1:pw"):               "", // Segment's form: no password
		basic("secret-1"):                  "",
		"Basic !!!":                        "",
		"Basic ":                           "",
		"secret-1":                         "",
	} {
		if got := Token(h); got != want {
			t.Errorf("Token(%q) = %q, want %q", h, got, want)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { k.API("secret-1") }); allocs != 0 {
		t.Errorf("API allocates %v times a call, want 0", allocs)
	}
}

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

// Set revokes the keys left out and adds the new ones at once, for both
// kinds of key; a removed workspace's keys stop working.
func TestSetReplacesKeys(t *testing.T) {
	k := NewKeys([]cdp.Workspace{
		{ID: "w1", WriteKeys: []string{"wk-1"}, APIKeys: []cdp.APIKey{{Name: "old", Role: cdp.RoleAdmin, Key: "ak-old"}}},
		{ID: "w2", WriteKeys: []string{"wk-2"}, APIKeys: []cdp.APIKey{{Name: "w2", Role: cdp.RoleAdmin, Key: "ak-w2"}}},
	})
	k.Set([]cdp.Workspace{
		{ID: "w1", WriteKeys: []string{"wk-1b"}, APIKeys: []cdp.APIKey{{Name: "new", Role: cdp.RoleActivation, Hash: hash("ak-new")}}},
	})
	for _, key := range []string{"ak-old", "ak-w2"} {
		if p, ok := k.API(key); ok {
			t.Errorf("API(%q) = %+v after Set, want no principal", key, p)
		}
	}
	if p, ok := k.API("ak-new"); !ok || p != (cdp.Principal{Workspace: "w1", Role: cdp.RoleActivation, KeyName: "new"}) {
		t.Errorf("API(ak-new) = %+v, %v", p, ok)
	}
	for key, want := range map[string]string{"wk-1": "", "wk-2": "", "wk-1b": "w1"} {
		if ws, ok := k.Workspace(key); ws != want || ok != (want != "") {
			t.Errorf("Workspace(%q) = %q, %v; want %q", key, ws, ok, want)
		}
	}
}

package command

import (
	"reflect"
	"testing"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/internal/config"
)

// The speed layer and the batch jobs' DuckDB sessions get the same phone
// regions, blocklist and allow entries: reconcile is exact only if both
// layers keep the same identifiers.
func TestBothLayersNormalizeAlike(t *testing.T) {
	cfg := config.Default()
	cfg.Identity.PhoneRegion = "GB"
	cfg.Workspaces = []cdp.Workspace{{ID: "uk"}, {ID: "us", PhoneRegion: "US"}}
	cfg.Speed.Blocklist, cfg.Speed.Allow = []string{"email:noreply@example.com"}, []string{"user_id:1"}
	st := speedConfig(cfg, nil, nil).Store
	sq := (&jobEnv{cfg: cfg}).identitySQL()
	want := identity.Regions{Default: "GB", Workspaces: map[string]string{"us": "US"}}
	if !reflect.DeepEqual(st.PhoneRegions, want) || !reflect.DeepEqual(sq.PhoneRegions, want) {
		t.Errorf("phone regions: speed %+v, batch %+v, want %+v", st.PhoneRegions, sq.PhoneRegions, want)
	}
	if !reflect.DeepEqual(st.Blocklist, sq.Blocklist) || !reflect.DeepEqual(st.Allow, sq.Allow) || len(st.Blocklist) != 1 || len(st.Allow) != 1 {
		t.Errorf("speed blocklist %q allow %q, batch blocklist %q allow %q", st.Blocklist, st.Allow, sq.Blocklist, sq.Allow)
	}
}

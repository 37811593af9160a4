package command

import (
	"reflect"
	"testing"

	"github.com/tributary-cdp/tributary/internal/config"
)

// The speed layer and the batch jobs' DuckDB sessions get the same phone
// region, blocklist and allow entries: reconcile is exact only if both
// layers keep the same identifiers.
func TestBothLayersNormalizeAlike(t *testing.T) {
	cfg := config.Default()
	cfg.Identity.PhoneRegion = "GB"
	cfg.Speed.Blocklist, cfg.Speed.Allow = []string{"email:noreply@example.com"}, []string{"user_id:1"}
	st := speedConfig(cfg, nil, nil).Store
	sq := (&jobEnv{cfg: cfg}).identitySQL()
	if st.PhoneRegion != "GB" || sq.PhoneRegion != "GB" {
		t.Errorf("phone region: speed %q, batch %q, want GB", st.PhoneRegion, sq.PhoneRegion)
	}
	if !reflect.DeepEqual(st.Blocklist, sq.Blocklist) || !reflect.DeepEqual(st.Allow, sq.Allow) || len(st.Blocklist) != 1 || len(st.Allow) != 1 {
		t.Errorf("speed blocklist %q allow %q, batch blocklist %q allow %q", st.Blocklist, st.Allow, sq.Blocklist, sq.Allow)
	}
}

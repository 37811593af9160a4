package identity

import "testing"

// A number without a country code is read in the configured region; the
// default ("") stays US.
func TestNormalizeRegion(t *testing.T) {
	for _, c := range []struct {
		value, region, want string
	}{
		{"020 7946 0018", "GB", "+442079460018"},
		{"0044 20 7946 0018", "GB", "+442079460018"},
		{"+44 20 7946 0018", "US", "+442079460018"},
		{"+1 415 555 2671", "GB", "+14155552671"},
		{"(415) 555-2671", "", "+14155552671"},
		{"020 7946 0018", "", ""},
		{"030 1234567", "DE", "+49301234567"},
	} {
		if got := Normalize("phone", c.value, c.region); got != c.want {
			t.Errorf("Normalize(phone, %q, %q) = %q, want %q", c.value, c.region, got, c.want)
		}
	}
	if got := Normalize("user_id", " 020 ", "GB"); got != "020" {
		t.Errorf("Normalize(user_id, \" 020 \", GB) = %q: the region is for phones only", got)
	}
	for region, want := range map[string]bool{"": true, "US": true, "GB": true, "DE": true, "gb": false, "UK": false, "XX": false, "001": false} {
		if got := ValidRegion(region); got != want {
			t.Errorf("ValidRegion(%q) = %v, want %v", region, got, want)
		}
	}
}

// A workspace with a region of its own reads its numbers in it; the others
// read the default, and only phones are read in a region.
func TestRegions(t *testing.T) {
	r := Regions{Default: "US", Workspaces: map[string]string{"uk": "GB"}}
	for _, c := range []struct {
		workspace, typ, value, want string
	}{
		{"uk", "phone", "020 7946 0018", "+442079460018"},
		{"us", "phone", "020 7946 0018", ""},
		{"uk", "phone", "(415) 555-2671", "+444155552671"},
		{"us", "phone", "(415) 555-2671", "+14155552671"},
		{"uk", "user_id", " 020 7946 0018 ", "020 7946 0018"},
		{"uk", "email", " Ann@X.com", "ann@x.com"},
	} {
		if got := r.Normalize(c.workspace, c.typ, c.value); got != c.want {
			t.Errorf("Normalize(%s, %s, %q) = %q, want %q", c.workspace, c.typ, c.value, got, c.want)
		}
	}
	if err := r.Validate(); err != nil {
		t.Error(err)
	}
	if err := (Regions{}).Validate(); err != nil {
		t.Errorf("no region at all (the default, US): %v", err)
	}
	for _, bad := range []Regions{{Default: "UK"}, {Workspaces: map[string]string{"uk": "UK"}}, {Workspaces: map[string]string{"uk": ""}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

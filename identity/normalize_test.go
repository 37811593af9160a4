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

package plural

import "testing"

func TestCount(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{Count(0, "file"), "0 files"},
		{Count(1, "file"), "1 file"},
		{Count(int64(2), "row"), "2 rows"},
		{Count(int64(-1), "row"), "-1 rows"},
		{Count(1, "identity"), "1 identity"},
		{Count(3, "identity"), "3 identities"},
		{Count(2, "match"), "2 matches"},
		{Count(12562, "segment membership"), "12562 segment memberships"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

package identity

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func slowPhone(s string) string {
	num, err := phonenumbers.Parse(s, "US")
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return ""
	}
	return phonenumbers.Format(num, phonenumbers.E164)
}

func TestFastNANPAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	formats := []string{"%s%s%s", "(%s) %s-%s", "%s.%s.%s", "+1 %s %s %s", "1-%s-%s-%s", "+1%s%s%s", "1 (%s) %s %s", "%s-%s-%s"}
	for i := 0; i < 5000; i++ {
		a := fmt.Sprintf("%03d", rng.IntN(1000))
		b := fmt.Sprintf("%03d", rng.IntN(1000))
		c := fmt.Sprintf("%04d", rng.IntN(10000))
		in := fmt.Sprintf(formats[rng.IntN(len(formats))], a, b, c)
		if got, want := NormalizePhone(in, "US"), slowPhone(in); got != want {
			t.Fatalf("NormalizePhone(%q) = %q, phonenumbers says %q", in, got, want)
		}
	}
	for _, in := range []string{"+4155552671", "41555526712", "555-2671", "+44 20 7946 0958", "1-800-FLOWERS"} {
		if got, want := NormalizePhone(in, "US"), slowPhone(in); got != want {
			t.Errorf("NormalizePhone(%q) = %q, phonenumbers says %q", in, got, want)
		}
	}
}

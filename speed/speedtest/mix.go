// Package speedtest holds the synthetic event mix the speed layer's
// benchmarks apply (`cdpctl bench speed`, TestApplyCPU), so every figure
// is measured on the same events.
package speedtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	cdp "github.com/tributary-cdp/tributary"
)

// EventNames are the track events of the mix; "Order Completed" carries revenue.
var EventNames = []string{"Product Viewed", "Product Added", "Checkout Started", "Order Completed", "Signed In",
	"Video Played", "Search", "Coupon Applied", "Cart Viewed", "Review Written"}

// Event is the i-th synthetic event over profiles people: 10 % identify
// with 4 traits, 65 % track, 20 % page, 5 % alias.
func Event(rng *rand.Rand, i, profiles int, at time.Time) *cdp.Event {
	p := rng.IntN(profiles)
	e := &cdp.Event{Workspace: "default", MessageID: "bench-" + strconv.Itoa(i), Timestamp: at, ReceivedAt: at}
	user, anon := "user-"+strconv.Itoa(p), "anon-"+strconv.Itoa(p)
	switch r := rng.IntN(100); {
	case r < 10:
		e.Type, e.UserID, e.AnonymousID = cdp.Identify, user, anon
		e.Traits = json.RawMessage(fmt.Sprintf(`{"email":"person%d@example.com","name":"Person %d","plan":%q,"age":%d}`,
			p, p, []string{"free", "pro", "team"}[rng.IntN(3)], 18+rng.IntN(60)))
	case r < 75:
		e.Type, e.Event = cdp.Track, EventNames[rng.IntN(len(EventNames))]
		if rng.IntN(2) == 0 {
			e.UserID = user
		} else {
			e.AnonymousID = anon
		}
		if e.Event == "Order Completed" {
			e.Properties = json.RawMessage(fmt.Sprintf(`{"order_id":"o%d","revenue":%d.99,"currency":"USD"}`, i, rng.IntN(200)))
		} else {
			e.Properties = json.RawMessage(fmt.Sprintf(`{"sku":"sku-%d","price":%d}`, rng.IntN(1000), rng.IntN(100)))
		}
	case r < 95:
		e.Type, e.AnonymousID, e.Name = cdp.Page, anon, "Home"
		e.Properties = json.RawMessage(`{"url":"https://shop.example/","path":"/"}`)
	default:
		e.Type, e.PreviousID, e.UserID = cdp.Alias, anon, user
	}
	return e
}

package cdp

// Identifier types known to every layer. Sources may declare more
// (customer_id, loyalty_id, device_id, …): any lower-case name is accepted.
const (
	IDUserID      = "user_id"
	IDAnonymousID = "anonymous_id"
	IDEmail       = "email"
	IDPhone       = "phone"
)

// Identifier names one person in one workspace: ("default", "email", "ann@example.com").
// Values are normalized before they are stored or compared (see package identity).
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

func (i Identifier) String() string { return i.Type + ":" + i.Value }

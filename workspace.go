package cdp

import "fmt"

// Role is what an API key may do.
type Role string

// Roles of API keys.
const (
	RoleAdmin      Role = "admin"      // everything
	RoleActivation Role = "activation" // read profiles
	RoleAnalyst    Role = "analyst"    // query the lake, no profile look-ups
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleActivation, RoleAnalyst:
		return true
	}
	return false
}

// CanReadProfiles reports whether the role may call the activation API.
func (r Role) CanReadProfiles() bool { return r == RoleAdmin || r == RoleActivation }

// Workspace is a tenant: its own keys, its own profiles.
type Workspace struct {
	ID        string   `yaml:"id" json:"id"`
	Name      string   `yaml:"name,omitempty" json:"name,omitempty"`
	WriteKeys []string `yaml:"write_keys" json:"-"`
	APIKeys   []APIKey `yaml:"api_keys" json:"-"`
	// PhoneRegion is where the workspace's phone numbers without a country
	// code are read ("": the deployment's, identity.phone_region).
	PhoneRegion string `yaml:"phone_region,omitempty" json:"phone_region,omitempty"`
}

// APIKey is a server-side key. Only its SHA-256 hash is stored.
type APIKey struct {
	Name string `yaml:"name,omitempty"`
	Role Role   `yaml:"role"`
	// Hash is "sha256:<hex>" of the key; Key may hold the plain key instead
	// (convenient in hand-written configs; init writes hashes only).
	Hash string `yaml:"hash,omitempty"`
	Key  string `yaml:"key,omitempty"`
}

// Principal is who made an authenticated request.
type Principal struct {
	Workspace string
	Role      Role
	KeyName   string
}

func (p Principal) String() string { return fmt.Sprintf("%s/%s(%s)", p.Workspace, p.KeyName, p.Role) }

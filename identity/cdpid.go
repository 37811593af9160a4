package identity

import (
	"encoding/binary"
	"encoding/hex"

	"github.com/zeebo/xxh3"
)

// CDPID derives a profile's canonical id from the identifier that founded
// it: "cdp_" and the 32 hex digits of the 128-bit xxh3 hash of
// workspace, type and value. The speed layer and the resolve job both mint
// ids with it, so a cluster founded by the same identifier has the same id
// in both layers, and the speed layer can find a profile by its id through
// its identifier index.
func CDPID(workspace, typ, value string) string {
	return FormatCDPID(IdentifierHash(workspace, typ, value))
}

// FormatCDPID is the cdp id of an identifier whose hash (IdentifierHash)
// the caller has already, in one allocation.
func FormatCDPID(hi, lo uint64) string {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], hi)
	binary.BigEndian.PutUint64(raw[8:], lo)
	out := [36]byte{'c', 'd', 'p', '_'}
	hex.Encode(out[4:], raw[:])
	return string(out[:])
}

// IdentifierHash is the 128-bit xxh3 hash of (workspace, type, value) that
// CDPID prints. The speed layer indexes identifiers by it, so a cdp_id read
// back (parseCDPID) names the identifier that founded the profile.
func IdentifierHash(workspace, typ, value string) (hi, lo uint64) {
	var buf [192]byte
	b := append(buf[:0], workspace...)
	b = append(b, 0)
	b = append(b, typ...)
	b = append(b, 0)
	b = append(b, value...)
	h := xxh3.Hash128(b)
	return h.Hi, h.Lo
}

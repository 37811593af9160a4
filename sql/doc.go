// Package sql holds Tributary's DuckDB SQL and the session that runs it.
//
// Non-trivial SQL lives in *.sql files next to this one, embedded with
// go:embed and run with bound parameters ($name). A [Session] is one DuckDB
// database with one dedicated connection: temporary tables survive from one
// statement to the next, resource limits (memory_limit, threads,
// temp_directory) come from a [Config] so that large runs spill to disk
// instead of failing, and Go scalar UDFs registered on the connection
// normalize values with the very functions the speed layer uses
// (package identity) and the same configuration (Config.PhoneRegions,
// Blocklist, Allow), so both layers agree byte for byte. Those that read
// phone numbers take the workspace of the value: numbers without a country
// code are read in its region, as the speed layer reads its events'.
//
//	normalize_email(value) → VARCHAR                identity.NormalizeEmail
//	normalize_phone(workspace, value) → VARCHAR     identity.NormalizePhone (E.164)
//	normalize_phone(value) → VARCHAR                the same in identity.phone_region
//	fold_name(value) → VARCHAR                      identity.FoldName
//	normalize_identifier(workspace, type, value)    identity.Normalize
//	normalize_identifier(type, value)               the same in identity.phone_region
//	usable_identifier(workspace, type, value)       normalize_identifier, NULL when blocked
//	blocked_identifier(type, value) → BOOLEAN       identity.Junk
//
// Each returns NULL where the Go function returns "" (invalid or empty).
package sql

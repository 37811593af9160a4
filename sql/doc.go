// Package sql holds Tributary's DuckDB SQL and the session that runs it.
//
// Non-trivial SQL lives in *.sql files next to this one, embedded with
// go:embed and run with bound parameters ($name). A [Session] is one DuckDB
// database with one dedicated connection: temporary tables survive from one
// statement to the next, resource limits (memory_limit, threads,
// temp_directory) come from a [Config] so that large runs spill to disk
// instead of failing, and Go scalar UDFs registered on the connection
// normalize values with the very functions the speed layer uses
// (package identity) and the same configuration (Config.PhoneRegion,
// Blocklist, Allow), so both layers agree byte for byte:
//
//	normalize_email(VARCHAR) → VARCHAR   identity.NormalizeEmail
//	normalize_phone(VARCHAR) → VARCHAR   identity.NormalizePhone (E.164, Config.PhoneRegion)
//	fold_name(VARCHAR)       → VARCHAR   identity.FoldName
//	normalize_identifier(type, value)    identity.Normalize
//	blocked_identifier(type, value) → BOOLEAN  identity.Junk
//
// Each returns NULL where the Go function returns "" (invalid or empty).
package sql

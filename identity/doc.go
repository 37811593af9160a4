// Package identity decides which identifiers belong to one person.
//
// Normalization (this file's neighbours normalize.go and hygiene.go) is
// shared by every layer so that the speed layer, CRM ingest and DuckDB agree
// on what a value is.
package identity

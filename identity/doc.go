// Package identity decides which identifiers belong to one person.
//
// Normalization (normalize.go) and the junk-value blocklist (hygiene.go)
// are shared by every layer so that the speed layer, CRM ingest and DuckDB
// (through the UDFs of package sql) agree on what a value is; each layer
// is given the same phone regions (Regions: one per workspace) and
// blocklist (Junk) by the deployment's config. The rest is
// layer-independent machinery:
//
//   - UnionFind and Cluster (cluster.go): connected components, and the
//     chain guard that keeps two dense clusters apart when only weak edges
//     join them;
//   - CountPairs (metrics.go): pairwise precision, recall and F1 over the
//     transitive closure of clusters, the measure of every evaluation.
//
// Subpackages: match is probabilistic linkage (Fellegi–Sunter in DuckDB SQL)
// and its evaluation against ground truth (`cdpctl identity eval`); synth
// generates people with noise, hard negatives and truth (`cdpctl gen
// people`). The batch jobs that use them over the lake are batch/cleanse
// and batch/resolve.
package identity

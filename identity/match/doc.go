// Package match is probabilistic record linkage (Fellegi–Sunter) in DuckDB.
//
// The pipeline runs on one sql.Session over a table fs_input(id, src,
// <attribute columns>) that the caller fills (see LoadInputs):
//
//  1. fs_prepare.sql normalizes every attribute with the Go UDFs shared with
//     the speed layer and computes term frequencies;
//  2. blocking rules (fs_block.sql, one per rule, union of pairs) give the
//     candidate pairs; fs_random_pairs.sql draws random pairs;
//  3. fs_compare.sql computes a comparison vector per pair (exact,
//     Jaro–Winkler thresholds, Damerau–Levenshtein, date levels, null),
//     packed in one integer key;
//  4. u is counted on the random pairs; m is learnt by expectation
//     maximisation, once per blocking rule with that rule's own comparisons
//     held out, over comparison patterns aggregated by SQL; the prior is
//     then fitted on all candidates;
//  5. fs_score.sql turns each pair into a match weight (log2 Bayes factor,
//     optionally adjusted by term frequency) and probability; pairs above
//     the threshold are edges;
//  6. identity.Cluster takes connected components, strongest edges first,
//     refusing to join two dense clusters through a lone weak edge.
//
// One DefaultConfig serves every data set: nothing is tuned per data set,
// EM learns the parameters from the records it is given.
package match

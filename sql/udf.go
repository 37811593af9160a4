package sql

import (
	dsql "database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/duckdb/duckdb-go/v2"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/identity"
)

// stringUDF is a scalar function over VARCHAR arguments returning T;
// NULL in gives NULL out.
type stringUDF struct {
	nargs  int
	result duckdb.Type
	fn     func(args []string) (any, bool)
}

func (u stringUDF) Config() duckdb.ScalarFuncConfig {
	vt, _ := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	rt, _ := duckdb.NewTypeInfo(u.result)
	in := make([]duckdb.TypeInfo, u.nargs)
	for i := range in {
		in[i] = vt
	}
	return duckdb.ScalarFuncConfig{InputTypeInfos: in, ResultTypeInfo: rt}
}

func (u stringUDF) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowExecutor: func(values []driver.Value) (any, error) {
		args := make([]string, len(values))
		for i, v := range values {
			s, _ := v.(string)
			args[i] = s
		}
		out, ok := u.fn(args)
		if !ok {
			return nil, nil
		}
		return out, nil
	}}
}

// editsWithinUDF is damerau_levenshtein_within(a, b VARCHAR, k INTEGER)
// BOOLEAN: identity.DamerauLevenshteinWithin, the same answer as DuckDB's
// damerau_levenshtein(a, b) <= k, several times faster.
type editsWithinUDF struct{}

func (editsWithinUDF) Config() duckdb.ScalarFuncConfig {
	vt, _ := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	it, _ := duckdb.NewTypeInfo(duckdb.TYPE_INTEGER)
	bt, _ := duckdb.NewTypeInfo(duckdb.TYPE_BOOLEAN)
	return duckdb.ScalarFuncConfig{InputTypeInfos: []duckdb.TypeInfo{vt, vt, it}, ResultTypeInfo: bt}
}

func (editsWithinUDF) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowExecutor: func(values []driver.Value) (any, error) {
		a, _ := values[0].(string)
		b, _ := values[1].(string)
		k, _ := values[2].(int32)
		return identity.DamerauLevenshteinWithin(a, b, int(k)), nil
	}}
}

func nonEmpty(s string) (any, bool) { return s, s != "" }

func registerUDFs(conn *dsql.Conn, bl *identity.Blocklist, regions identity.Regions) error {
	// The functions that read phone numbers take the workspace first: its
	// region reads the numbers without a country code, as in the speed
	// layer, and a table of verdicts per distinct value is keyed by it.
	// Their forms without a workspace read identity.phone_region, for an
	// analyst's query in `cdpctl sql` on a one-region deployment.
	udfs := map[string][]stringUDF{
		"normalize_email": {{1, duckdb.TYPE_VARCHAR, func(a []string) (any, bool) { return nonEmpty(identity.NormalizeEmail(a[0])) }}},
		"normalize_phone": {
			{2, duckdb.TYPE_VARCHAR, func(a []string) (any, bool) {
				return nonEmpty(identity.NormalizePhone(a[1], regions.Of(a[0])))
			}},
			{1, duckdb.TYPE_VARCHAR, func(a []string) (any, bool) {
				return nonEmpty(identity.NormalizePhone(a[0], regions.Default))
			}},
		},
		"fold_name": {{1, duckdb.TYPE_VARCHAR, func(a []string) (any, bool) { return nonEmpty(identity.FoldName(a[0])) }}},
		"normalize_identifier": {
			{3, duckdb.TYPE_VARCHAR, func(a []string) (any, bool) {
				return nonEmpty(regions.Normalize(a[0], a[1], a[2]))
			}},
			{2, duckdb.TYPE_VARCHAR, func(a []string) (any, bool) {
				return nonEmpty(identity.Normalize(a[0], a[1], regions.Default))
			}},
		},
		"blocked_identifier": {{2, duckdb.TYPE_BOOLEAN, func(a []string) (any, bool) { return bl.Blocked(a[0], a[1]), true }}},
		// parse_amount(text): an e-commerce amount as the speed layer reads
		// it, NULL when it is none (DuckDB's cast takes "1_000", not "0x1p4").
		"parse_amount": {{1, duckdb.TYPE_DOUBLE, func(a []string) (any, bool) { return cdp.ParseAmount(a[0]) }}},
		"json_last":    {{1, duckdb.TYPE_VARCHAR, func(a []string) (any, bool) { return lastValues(a[0]) }}},
		// usable_identifier(workspace, type, raw): normalize_identifier, NULL
		// when that is blocked too; one call per value where both are asked.
		"usable_identifier": {{3, duckdb.TYPE_VARCHAR, func(a []string) (any, bool) {
			v := regions.Normalize(a[0], a[1], a[2])
			return v, v != "" && !bl.Blocked(a[1], v)
		}}},
	}
	for name, forms := range udfs {
		fns := make([]duckdb.ScalarFunc, len(forms))
		for i, u := range forms {
			fns[i] = u
		}
		if err := duckdb.RegisterScalarUDFSet(conn, name, fns...); err != nil {
			return fmt.Errorf("register udf %s: %w", name, err)
		}
	}
	if err := duckdb.RegisterScalarUDF(conn, "damerau_levenshtein_within", editsWithinUDF{}); err != nil {
		return fmt.Errorf("register udf damerau_levenshtein_within: %w", err)
	}
	if err := duckdb.RegisterScalarUDF(conn, "json_members", jsonMembersUDF{}); err != nil {
		return fmt.Errorf("register udf json_members: %w", err)
	}
	return nil
}

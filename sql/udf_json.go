package sql

import (
	"database/sql/driver"
	"encoding/json"
	"slices"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
	gojson "github.com/goccy/go-json"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/jsonx"
)

// jsonMembersUDF is json_members(obj VARCHAR) LIST(STRUCT(k VARCHAR, v
// VARCHAR)): the members of a JSON object, each value as it is written.
// DuckDB's JSON functions write numbers again (1.50 as 1.5, 1e3 as
// 1000.0); curate keeps identify traits as sent, as the speed layer does,
// and reads them the same way (speed.Preparer.traitsOf): plain keys in
// place, anything else (escaped or repeated keys) by goccy/go-json. NULL
// when obj is not a JSON object (or an empty one).
type jsonMembersUDF struct{}

func (jsonMembersUDF) Config() duckdb.ScalarFuncConfig {
	vt, _ := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	k, _ := duckdb.NewStructEntry(vt, "k")
	v, _ := duckdb.NewStructEntry(vt, "v")
	st, _ := duckdb.NewStructInfo(k, v)
	lt, _ := duckdb.NewListInfo(st)
	return duckdb.ScalarFuncConfig{InputTypeInfos: []duckdb.TypeInfo{vt}, ResultTypeInfo: lt}
}

func (jsonMembersUDF) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowExecutor: func(values []driver.Value) (any, error) {
		s, _ := values[0].(string)
		members, ok := jsonMembers([]byte(s))
		if !ok {
			return nil, nil
		}
		return members, nil
	}}
}

// lastValues is json_last(doc): doc with each object's repeated key once,
// at its last value, as the speed layer reads it (DuckDB's JSON paths take
// the first); numbers as written. NULL when doc is not JSON.
func lastValues(doc string) (any, bool) {
	if jsonx.Check([]byte(doc)) != nil {
		return nil, false // Decode would take a prefix
	}
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	b, err := json.Marshal(v)
	return string(b), err == nil
}

func jsonMembers(obj []byte) ([]any, bool) {
	if jsonx.Check(obj) != nil {
		return nil, false // ObjectFields reads valid JSON only
	}
	var members []any
	var keys []string
	fast := cdp.ObjectFields(obj, func(k string, v []byte) bool {
		if slices.Contains(keys, k) {
			return false // a repeated key: the general decoder says which wins
		}
		keys = append(keys, k)
		members = append(members, map[string]any{"k": k, "v": string(v)})
		return true
	})
	if fast {
		return members, true
	}
	var m map[string]gojson.RawMessage
	if gojson.Unmarshal(obj, &m) != nil || m == nil {
		return nil, false
	}
	members = members[:0]
	for k, v := range m {
		if strings.IndexByte(k, 0) >= 0 {
			continue // DuckDB would get the key cut at U+0000: none, in the speed layer too
		}
		members = append(members, map[string]any{"k": k, "v": string(v)})
	}
	return members, true
}

package match

import "database/sql"

func sqlNamed(name string, v any) any { return sql.Named(name, v) }

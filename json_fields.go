package cdp

import "github.com/tributary-cdp/tributary/internal/jsonx"

// Fast paths over JSON objects and arrays as written, without a decoder:
// the speed layer's and the batch layer's readers of traits and
// properties share them, so both see the same members.

// ObjectFields calls fn with each key and raw value of the object raw
// when its keys are plain (see PlainString); it reports false, having
// called fn for some keys perhaps, for anything else.
func ObjectFields(raw []byte, fn func(key string, value []byte) bool) bool {
	i, more, ok := openContainer(raw, '{', '}')
	for ; more; i, more, ok = nextMember(raw, i, '}') {
		key, end, ok := PlainString(raw, i)
		if !ok {
			return false
		}
		i = jsonx.Space(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		start := jsonx.Space(raw, i+1)
		if i, ok = jsonx.End(raw, start); !ok || !fn(key, raw[start:i]) {
			return false
		}
	}
	return ok
}

// ArrayElems calls fn with each raw element of the JSON array raw; it
// reports false, having called fn for some elements perhaps, when raw is
// not an array or fn returns false.
func ArrayElems(raw []byte, fn func(v []byte) bool) bool {
	i, more, ok := openContainer(raw, '[', ']')
	for ; more; i, more, ok = nextMember(raw, i, ']') {
		end, ok := jsonx.End(raw, i)
		if !ok || !fn(raw[i:end]) {
			return false
		}
		i = end
	}
	return ok
}

// openContainer reads the opening bracket of the container raw: more
// when a member starts at i, ok when raw is so far the container (an
// empty one must end raw).
func openContainer(raw []byte, opening, closing byte) (i int, more, ok bool) {
	i = jsonx.Space(raw, 0)
	if i >= len(raw) || raw[i] != opening {
		return i, false, false
	}
	i = jsonx.Space(raw, i+1)
	if i < len(raw) && raw[i] == closing {
		return i, false, jsonx.Space(raw, i+1) == len(raw) // JSON whitespace only (bytes.TrimSpace also takes \f, \v, U+0085)
	}
	return i, true, true
}

// nextMember reads what follows a member ending at end: a comma (more,
// and the next member starts at i) or the closing bracket, which must
// end raw.
func nextMember(raw []byte, end int, closing byte) (i int, more, ok bool) {
	i = jsonx.Space(raw, end)
	if i >= len(raw) {
		return i, false, false
	}
	switch raw[i] {
	case ',':
		return jsonx.Space(raw, i+1), true, true
	case closing:
		return i, false, jsonx.Space(raw, i+1) == len(raw)
	}
	return i, false, false
}

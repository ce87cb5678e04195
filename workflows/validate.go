package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/weft-run/weft"
)

// Parameters are checked at the door, before anything is stored: first
// against the workflow's advertised parameters_schema (compiled once, at
// registration, by github.com/santhosh-tekuri/jsonschema/v6, a complete
// draft 2020-12 validator whose errors carry the instance location and a
// typed kind), then by decoding them into the Go input type (a JSON
// integer such as 1e30 or 2.0 fits the schema's "integer" but not a Go
// int). Either failure is one INVALID_REQUEST naming the field:
// "parameters.steps: must be <= 100000".

// compileSchema compiles a parameters schema. A schema that does not
// compile is a programming error (a bad pattern in a jsonschema tag), so
// Register panics with it.
func compileSchema(name string, raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	// The schema's own $id, if any, names it; this URL only locates it.
	loc := "weft:///workflows/" + url.PathEscape(name) + "/parameters.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}

// ValidateParameters checks params (a JSON document; empty or null stands
// for {}) against a compiled schema and returns nil or an INVALID_REQUEST
// *weft.Error naming the first offending field. It never panics.
func validateParameters(sch *jsonschema.Schema, params json.RawMessage) error {
	trimmed := bytes.TrimSpace(params)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		trimmed = []byte("{}")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(trimmed))
	if err != nil {
		return weft.Errorf(weft.CodeInvalidRequest, "parameters: not valid JSON")
	}
	if loc, ok := unrepresentableNumber(doc); ok {
		return weft.Errorf(weft.CodeInvalidRequest, "%s: number out of range", fieldPath(doc, loc))
	}
	if sch == nil {
		return nil
	}
	err = safeValidate(sch, doc)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return weft.Errorf(weft.CodeInvalidRequest, "parameters: %v", err)
	}
	leaf := firstLeaf(verr)
	return weft.Errorf(weft.CodeInvalidRequest, "%s", describe(doc, leaf))
}

// safeValidate runs the validator, turning a panic in it (a bug: bad
// input is an error, never a panic) into INTERNAL rather than a crash.
func safeValidate(sch *jsonschema.Schema, doc any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = weft.Internal(fmt.Errorf("validate parameters: panic: %v", r))
		}
	}()
	return sch.Validate(doc)
}

// maxExponent bounds the exponent of a number in parameters: far past
// float64 (1e308), and small enough that exact arithmetic on it (the
// validator compares numbers as big.Rat) stays cheap. 1e999999999 would
// make the validator build a billion-digit integer, and fail (it then
// dereferences nil).
const maxExponent = 400

// unrepresentableNumber finds the first number (in a stable order) whose
// exponent is past maxExponent or that float64 cannot hold, and returns
// its location. The path is built only for that number, on the way back
// up: deep documents cost no more than their size.
func unrepresentableNumber(v any) ([]string, bool) {
	var rev []string // the location, innermost first
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case json.Number:
			return !representable(string(v))
		case []any:
			for i, item := range v {
				if walk(item) {
					rev = append(rev, strconv.Itoa(i))
					return true
				}
			}
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				if walk(v[k]) {
					rev = append(rev, k)
					return true
				}
			}
		}
		return false
	}
	if !walk(v) {
		return nil, false
	}
	slices.Reverse(rev)
	return rev, true
}

func representable(num string) bool {
	if i := strings.IndexAny(num, "eE"); i >= 0 {
		exp, err := strconv.Atoi(strings.TrimPrefix(num[i+1:], "+"))
		if err != nil || exp > maxExponent || exp < -maxExponent {
			return false
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	return err == nil && !math.IsInf(f, 0)
}

// firstLeaf picks one error to report, deterministically: the leaves of the
// error tree sorted by instance location (the shallowest first, so a
// missing or unknown field is named before what is wrong inside another),
// then by keyword.
func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	var leaves []*jsonschema.ValidationError
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(e)
	slices.SortStableFunc(leaves, func(a, b *jsonschema.ValidationError) int {
		if d := len(a.InstanceLocation) - len(b.InstanceLocation); d != 0 {
			return d
		}
		if d := slices.Compare(a.InstanceLocation, b.InstanceLocation); d != 0 {
			return d
		}
		return kindRank(a.ErrorKind) - kindRank(b.ErrorKind)
	})
	return leaves[0]
}

// kindRank orders errors found at the same place: an unknown field (most
// often a typo, which also explains the missing one) first.
func kindRank(k jsonschema.ErrorKind) int {
	switch k.(type) {
	case *kind.AdditionalProperties, *kind.FalseSchema:
		return 0
	case *kind.Required:
		return 1
	case *kind.Type:
		return 2
	}
	return 3
}

// describe renders one validation error as "path: what is wrong", the path
// spelled from "parameters" (parameters.filters.min_years,
// parameters.items[2]).
func describe(doc any, e *jsonschema.ValidationError) string {
	at := fieldPath(doc, e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		props := slices.Sorted(slices.Values(k.Properties))
		return fmt.Sprintf("%s: unknown field (not in the workflow's parameters_schema)", childPath(at, props[0]))
	case *kind.Required:
		missing := slices.Sorted(slices.Values(k.Missing))
		return fmt.Sprintf("%s: is required", childPath(at, missing[0]))
	case *kind.FalseSchema:
		return fmt.Sprintf("%s: is not allowed", at)
	case *kind.Type:
		return fmt.Sprintf("%s: must be %s, not %s", at, strings.Join(withArticles(k.Want), " or "), withArticle(k.Got))
	case *kind.Minimum:
		return fmt.Sprintf("%s: must be >= %s", at, ratString(k.Want))
	case *kind.Maximum:
		return fmt.Sprintf("%s: must be <= %s", at, ratString(k.Want))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("%s: must be > %s", at, ratString(k.Want))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("%s: must be < %s", at, ratString(k.Want))
	case *kind.MultipleOf:
		return fmt.Sprintf("%s: must be a multiple of %s", at, ratString(k.Want))
	case *kind.MinLength:
		if k.Want == 1 {
			return fmt.Sprintf("%s: must not be empty", at)
		}
		return fmt.Sprintf("%s: must be at least %d characters long", at, k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("%s: must be at most %d characters long", at, k.Want)
	case *kind.Pattern:
		return fmt.Sprintf("%s: must match the pattern %s", at, k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("%s: must have at least %d items", at, k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("%s: must have at most %d items", at, k.Want)
	case *kind.MinProperties:
		return fmt.Sprintf("%s: must have at least %d fields", at, k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("%s: must have at most %d fields", at, k.Want)
	case *kind.Enum:
		if len(k.Want) == 1 {
			return fmt.Sprintf("%s: must be %s", at, jsonText(k.Want[0]))
		}
		want := make([]string, len(k.Want))
		for i, v := range k.Want {
			want[i] = jsonText(v)
		}
		return fmt.Sprintf("%s: must be one of %s", at, strings.Join(want, ", "))
	case *kind.Const:
		return fmt.Sprintf("%s: must be %s", at, jsonText(k.Want))
	case *kind.Format:
		return fmt.Sprintf("%s: must be a valid %s", at, k.Want)
	}
	return fmt.Sprintf("%s: %s", at, e.ErrorKind.LocalizedString(printer))
}

// printer renders the library's own messages, for the kinds above that
// have no message of ours.
var printer = message.NewPrinter(language.English)

// identifier is a field name that needs no quoting in a path.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// fieldPath spells an instance location from "parameters", walking doc to
// tell array indexes from object keys.
func fieldPath(doc any, loc []string) string {
	var b strings.Builder
	b.WriteString("parameters")
	cur := doc
	for _, tok := range loc {
		switch v := cur.(type) {
		case []any:
			b.WriteString("[" + tok + "]")
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(v) {
				cur = v[i]
			} else {
				cur = nil
			}
		case map[string]any:
			b.WriteString(key(tok))
			cur = v[tok]
		default:
			b.WriteString(key(tok))
			cur = nil
		}
	}
	return shortPath(b.String())
}

// maxPathLen bounds a path in a message: a field 9000 arrays deep is named
// by its start and its end.
const maxPathLen = 200

func shortPath(p string) string {
	if len(p) <= maxPathLen {
		return p
	}
	head, tail := p[:maxPathLen/2], p[len(p)-maxPathLen/2:]
	return strings.ToValidUTF8(head, "") + "..." + strings.ToValidUTF8(tail, "")
}

func childPath(parent, name string) string { return shortPath(parent + key(name)) }

func key(name string) string {
	if identifier.MatchString(name) {
		return "." + name
	}
	return "[" + strconv.Quote(name) + "]"
}

// jsonText spells a schema value as JSON ("fast", 3, null).
func jsonText(v any) string {
	raw, err := json.Marshal(v)
	if err != nil || len(raw) > 100 {
		return "the schema's value"
	}
	return string(raw)
}

func withArticles(types []string) []string {
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = withArticle(t)
	}
	return out
}

func withArticle(t string) string {
	switch t {
	case "null":
		return "null"
	case "integer", "object", "array":
		return "an " + t
	}
	return "a " + t
}

// ratString prints a schema bound the way it was written: 100000, 0.5.
func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// decodeError turns a failure to decode validated parameters into the Go
// input type into the same INVALID_REQUEST, naming the field when the
// decoder knows it.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		at := "parameters"
		if te.Field != "" {
			for _, f := range strings.Split(te.Field, ".") {
				at += key(f)
			}
		}
		what := te.Value
		if strings.HasPrefix(what, "number ") {
			what = "the number " + strings.TrimPrefix(what, "number ")
		}
		return weft.Errorf(weft.CodeInvalidRequest, "%s: cannot hold %s (Go type %s)", at, what, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return weft.Errorf(weft.CodeInvalidRequest, "parameters: not valid JSON")
	}
	return weft.Errorf(weft.CodeInvalidRequest, "parameters: %v", err)
}

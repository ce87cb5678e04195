package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The copies under docs/ are for readers of the repository; they must not
// drift from the embedded sources.
func TestDocsCopiesAreCurrent(t *testing.T) {
	for name, embedded := range map[string][]byte{"openapi.yaml": OpenAPIYAML, "asyncapi.yaml": AsyncAPIYAML} {
		copyPath := filepath.Join("..", "..", "..", "docs", name)
		data, err := os.ReadFile(copyPath)
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./transport/httpapi/spec)", copyPath, err)
		}
		if !bytes.Equal(data, embedded) {
			t.Errorf("%s differs from transport/httpapi/spec/%s: edit the latter, then run go generate ./transport/httpapi/spec", copyPath, name)
		}
	}
}

func TestVersions(t *testing.T) {
	if v := decodeYAML(t, OpenAPIYAML)["openapi"]; v != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", v)
	}
	if v := decodeYAML(t, AsyncAPIYAML)["asyncapi"]; v != "3.0.0" {
		t.Errorf("asyncapi = %v, want 3.0.0", v)
	}
}

// The JSON form is the same document, with keys in document order.
func TestOpenAPIJSONIsTheYAMLDocument(t *testing.T) {
	var fromJSON any
	if err := json.Unmarshal(OpenAPIJSON(), &fromJSON); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	fromYAML := jsonRoundTrip(t, decodeYAML(t, OpenAPIYAML))
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Fatal("openapi.json and openapi.yaml differ")
	}
	if !bytes.HasPrefix(OpenAPIJSON(), []byte("{\n  \"openapi\": \"3.1.0\",\n  \"info\"")) {
		t.Errorf("openapi.json does not keep the document's key order: %.60s", OpenAPIJSON())
	}
}

func TestYAMLToJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"b: 1\na: [x, 2, true, null, 1.5]\n", `{"b":1,"a":["x",2,true,null,1.5]}`},
		{"x: &a {k: <v>}\ny: *a\n\"200\": ok\n", `{"x":{"k":"<v>"},"y":{"k":"<v>"},"200":"ok"}`},
		{"s: |\n  two\n  lines\n", `{"s":"two\nlines\n"}`},
	} {
		got, err := YAMLToJSON([]byte(tc.in))
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, got); err != nil {
			t.Fatal(err)
		}
		if compact.String() != tc.want {
			t.Errorf("YAMLToJSON(%q) = %s, want %s", tc.in, compact.String(), tc.want)
		}
	}
	if _, err := YAMLToJSON([]byte("? [a, b]\n: c\n")); err == nil {
		t.Error("a non-scalar key converted without error")
	}
}

// Every $ref of both documents resolves: local ones in their document, and
// "openapi.yaml#/..." (from the AsyncAPI document) in the OpenAPI one.
func TestRefsResolve(t *testing.T) {
	docs := map[string]any{
		"openapi.yaml":  jsonRoundTrip(t, decodeYAML(t, OpenAPIYAML)),
		"asyncapi.yaml": jsonRoundTrip(t, decodeYAML(t, AsyncAPIYAML)),
	}
	for name, doc := range docs {
		n := 0
		walk(doc, func(ref string) {
			n++
			file, pointer, _ := strings.Cut(ref, "#")
			if file == "" {
				file = name
			}
			target, ok := docs[file]
			if !ok {
				t.Errorf("%s: $ref %q names an unknown document", name, ref)
				return
			}
			if _, err := resolve(target, pointer); err != nil {
				t.Errorf("%s: $ref %q: %v", name, ref, err)
			}
		})
		if n == 0 {
			t.Errorf("%s: no $ref found; the walk is broken", name)
		}
	}
}

func decodeYAML(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// jsonRoundTrip normalises a decoded YAML value to what encoding/json
// produces (float64 numbers, map[string]any).
func jsonRoundTrip(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func walk(v any, ref func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			if s, ok := c.(string); ok && k == "$ref" {
				ref(s)
				continue
			}
			walk(c, ref)
		}
	case []any:
		for _, c := range v {
			walk(c, ref)
		}
	}
}

// resolve follows a JSON pointer (RFC 6901) such as /components/schemas/X.
func resolve(doc any, pointer string) (any, error) {
	if pointer == "" {
		return doc, nil
	}
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("no member %q", tok)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("no index %s", tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("cannot descend into a scalar at %q", tok)
		}
	}
	return cur, nil
}

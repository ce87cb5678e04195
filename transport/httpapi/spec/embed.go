// Package spec holds the documents that describe weft's wire surfaces and
// embeds them in the binary: openapi.yaml (OpenAPI 3.1, the HTTP plane) and
// asyncapi.yaml (AsyncAPI 3.0, the socket). The server serves them at
// /api/v1/openapi.yaml, /api/v1/openapi.json and /api/v1/asyncapi.yaml.
//
// These files are the source; docs/openapi.yaml and docs/asyncapi.yaml are
// copies for readers of the repository, kept equal by a test (run
// `go generate ./transport/httpapi/spec` after editing). Tests in server/
// check that the documents list exactly the routes the server's mux serves
// and the services the socket dispatches.
package spec

//go:generate cp openapi.yaml asyncapi.yaml ../../../docs/

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"go.yaml.in/yaml/v3"
)

// OpenAPIYAML is the OpenAPI 3.1 document of the HTTP plane.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// AsyncAPIYAML is the AsyncAPI 3.0 document of the WebSocket.
//
//go:embed asyncapi.yaml
var AsyncAPIYAML []byte

var openAPIJSON = sync.OnceValues(func() ([]byte, error) { return YAMLToJSON(OpenAPIYAML) })

// OpenAPIJSON is OpenAPIYAML as JSON, keys in document order. The embedded
// document is checked by the package's tests, so a failure here is a build
// mistake and panics.
func OpenAPIJSON() []byte {
	data, err := openAPIJSON()
	if err != nil {
		panic("spec: openapi.yaml: " + err.Error())
	}
	return data
}

// YAMLToJSON converts one YAML document to indented JSON, keeping the order
// of mapping keys (a generic map would sort them). Mapping keys must be
// scalars; they become JSON strings.
func YAMLToJSON(doc []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := writeNode(&b, &root); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func writeNode(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: want one document", n.Line)
		}
		return writeNode(b, n.Content[0])
	case yaml.AliasNode:
		return writeNode(b, n.Alias)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSONValue(b, k.Value); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := writeNode(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeNode(b, c); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		if err := writeJSONValue(b, v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
	default:
		return fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	return nil
}

// writeJSONValue writes v as JSON without escaping <, > and & (the
// documents are served as data, never embedded in HTML).
func writeJSONValue(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

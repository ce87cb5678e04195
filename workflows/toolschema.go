package workflows

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// schemaNode is the part of a JSON schema that decoding into a Go type does
// not check: which object fields are required, at any depth. Types are
// checked by json.Unmarshal itself, and extra fields are allowed (models
// add them, and the schema says additionalProperties is allowed), so this
// is not a general JSON-schema validator and need not be one.
type schemaNode struct {
	Type       any                    `json:"type"` // "object", or a list of types
	Properties map[string]*schemaNode `json:"properties"`
	Required   []string               `json:"required"`
	Items      *schemaNode            `json:"items"`
}

// parseSchema reads a schema derived by schemaOf; nil if it has nothing to
// check.
func parseSchema(schema json.RawMessage) *schemaNode {
	var n schemaNode
	if err := json.Unmarshal(schema, &n); err != nil {
		return nil
	}
	return &n
}

// isObject reports whether the schema wants a JSON object.
func (n *schemaNode) isObject() bool {
	if n == nil {
		return false
	}
	switch t := n.Type.(type) {
	case string:
		return t == "object"
	case []any:
		return slices.Contains(t, any("object")) && !slices.Contains(t, any("null"))
	}
	return false
}

// check reports the first required field missing (or null) in v, which
// has already decoded into the Go type.
func (n *schemaNode) check(v json.RawMessage, path string) error {
	if n == nil {
		return nil
	}
	if len(n.Required) > 0 || len(n.Properties) > 0 {
		var fields map[string]json.RawMessage
		if json.Unmarshal(v, &fields) != nil || fields == nil {
			return nil // not an object (null, or a type that decoded anyway)
		}
		for _, name := range n.Required {
			if raw, ok := fields[name]; !ok || string(raw) == "null" {
				return fmt.Errorf("missing required field %q", join(path, name))
			}
		}
		for _, name := range slices.Sorted(maps.Keys(fields)) { // the same error every time
			if err := n.Properties[name].check(fields[name], join(path, name)); err != nil {
				return err
			}
		}
	}
	if n.Items != nil {
		var items []json.RawMessage
		if json.Unmarshal(v, &items) != nil {
			return nil
		}
		for i, raw := range items {
			if err := n.Items.check(raw, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

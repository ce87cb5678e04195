package workflows

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/invopop/jsonschema"
	jsonschema6 "github.com/santhosh-tekuri/jsonschema/v6"
)

// Registry holds the workflows a server can run, by name. It is safe for
// concurrent use; registration normally happens before serving.
type Registry struct {
	mu   sync.RWMutex
	defs map[string]*Definition
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{defs: make(map[string]*Definition)}
}

// Definition is a registered workflow: its name, description, the JSON
// schema of its parameters and the function that runs it.
type Definition struct {
	name        string
	description string
	schema      json.RawMessage
	params      *jsonschema6.Schema // schema compiled once, at registration
	decode      func(json.RawMessage) (any, error)
	run         func(Context, any) (any, error)
	timeout     time.Duration
	triggers    Triggers
	version     string
	compatible  []string
	concurrency Concurrency
	retention   *time.Duration // Retention; nil: the server's default
}

// Version is the code version new executions record ("" when none was
// registered: every execution is accepted).
func (d *Definition) Version() string { return d.version }

// Accepts reports whether this registration can resume an execution that
// started on version v: its own version or one it declared compatible.
func (d *Definition) Accepts(v string) bool {
	return d.version == "" || v == d.version || slices.Contains(d.compatible, v)
}

// Compatible lists the older versions this registration can resume.
func (d *Definition) Compatible() []string { return d.compatible }

// Version registers the workflow's code version. Executions record the
// version they started on; resuming one whose version is neither v nor
// listed in compatible fails it at once with VERSION_MISMATCH, instead of a
// non-determinism error half-way. List an older version as compatible when
// the code still replays its executions (typically thanks to Patched).
func Version(v string, compatible ...string) Option {
	return func(d *Definition) { d.version, d.compatible = v, compatible }
}

// Triggers are the socket events that start a workflow by themselves.
type Triggers struct {
	Rooms            []string // each message broadcast in one of these rooms
	ConnectionOpened bool
	ConnectionClosed bool
}

// Triggers returns what starts this workflow besides explicit starts.
func (d *Definition) Triggers() Triggers { return d.triggers }

// OnRoomMessage binds the workflow to a room: each message a client
// broadcasts in it starts an execution whose parameters are
// {"room","from","identity","message"} (messages workflows broadcast do
// not, so a bot answering into its room does not wake itself).
func OnRoomMessage(room string) Option {
	return func(d *Definition) { d.triggers.Rooms = append(d.triggers.Rooms, room) }
}

// OnConnectionOpened starts the workflow when a socket authenticates, with
// parameters {"connection_id","identity","event":"opened"}.
func OnConnectionOpened() Option { return func(d *Definition) { d.triggers.ConnectionOpened = true } }

// OnConnectionClosed starts the workflow when a socket closes, with
// parameters {"connection_id","identity","event":"closed","code"}.
func OnConnectionClosed() Option { return func(d *Definition) { d.triggers.ConnectionClosed = true } }

// Timeout is the longest an execution of this workflow may take, from its
// start (0: no limit).
func (d *Definition) Timeout() time.Duration { return d.timeout }

// Name returns the workflow's registered name.
func (d *Definition) Name() string { return d.name }

// Description returns the human description given at registration.
func (d *Definition) Description() string { return d.description }

// ParametersSchema returns the JSON schema of the workflow's input.
func (d *Definition) ParametersSchema() json.RawMessage { return d.schema }

// Validate checks parameters at the door, so a start (or a schedule) with
// bad parameters is refused before anything is stored: against the
// advertised parameters schema (required fields, types, minimum/maximum,
// lengths, enums, unknown fields), then by decoding them into the
// workflow's input type. params is a JSON document; empty or null stands
// for {}. The error, if any, is an INVALID_REQUEST *weft.Error naming the
// first offending field, e.g. "parameters.steps: must be <= 100000". It
// never panics, whatever params holds.
func (d *Definition) Validate(params json.RawMessage) error {
	if err := validateParameters(d.params, params); err != nil {
		return err
	}
	if _, err := d.decode(params); err != nil {
		return decodeError(err)
	}
	return nil
}

// Option configures a registration.
type Option func(*Definition)

// Description sets the text shown by workflow.list.
func Description(text string) Option {
	return func(d *Definition) { d.description = text }
}

// ExecutionTimeout fails an execution that has not ended d after it
// started (restarts included) with a TIMEOUT error.
func ExecutionTimeout(d time.Duration) Option {
	return func(def *Definition) { def.timeout = d }
}

// Retention keeps the ended executions of this workflow for d after they
// ended, then removes them (record, events, steps and idempotency key),
// whatever the server's default (weft serve --retention). d <= 0 keeps
// them for ever.
func Retention(d time.Duration) Option {
	return func(def *Definition) { def.retention = &d }
}

// Retention is how long ended executions of this workflow are kept, and
// whether the registration set it (false: the server's default applies).
func (d *Definition) Retention() (time.Duration, bool) {
	if d.retention == nil {
		return 0, false
	}
	return *d.retention, true
}

// Register adds a workflow written as a plain function of its typed input.
// Parameters are decoded from JSON into In (an empty or null parameter set
// decodes to In's zero value); the output is encoded back as JSON.
//
// The parameters schema advertised by workflow.list is derived from In and
// enforced by every start (Validate): a field is optional (absent: its zero
// value) unless tagged `jsonschema:"required"`; bounds and enums come from
// tags such as `jsonschema:"minimum=0,maximum=1000"` or
// `jsonschema:"enum=a,enum=b"`; a field In does not have is refused (a typo
// is not silently dropped), except for workflows bound to a trigger, whose
// parameters the server sets. A map, json.RawMessage or interface input
// takes any JSON object.
//
// Registering a name twice, or an input whose schema does not compile (a
// bad pattern tag), panics: it is a programming error, found at start.
func Register[In, Out any](r *Registry, name string, fn func(Context, In) (Out, error), opts ...Option) {
	if name == "" {
		panic("workflows: Register with empty name")
	}
	d := &Definition{
		name:   name,
		decode: func(raw json.RawMessage) (any, error) { return decodeInput[In](raw) },
		run: func(ctx Context, in any) (any, error) {
			return fn(ctx, in.(In))
		},
	}
	for _, opt := range opts {
		opt(d)
	}
	t := d.triggers
	d.schema = parametersSchemaOf[In](len(t.Rooms) > 0 || t.ConnectionOpened || t.ConnectionClosed)
	compiled, err := compileSchema(name, d.schema)
	if err != nil {
		panic(fmt.Sprintf("workflows: parameters schema of %q: %v", name, err))
	}
	d.params = compiled
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.defs[name]; dup {
		panic(fmt.Sprintf("workflows: workflow %q registered twice", name))
	}
	r.defs[name] = d
}

// Lookup returns the workflow registered under name.
func (r *Registry) Lookup(name string) (*Definition, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.defs[name]
	return d, ok
}

func (r *Registry) lookupOrNil(name string) (*Definition, bool) {
	if r == nil {
		return nil, false
	}
	return r.Lookup(name)
}

// Definitions returns every registered workflow, sorted by name.
func (r *Registry) Definitions() []*Definition {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Definition, 0, len(r.defs))
	for _, d := range r.defs {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *Definition) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return out
}

func decodeInput[In any](raw json.RawMessage) (In, error) {
	var in In
	if len(raw) == 0 || string(raw) == "null" {
		return in, nil
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return in, fmt.Errorf("parameters: %w", err)
	}
	return in, nil
}

// schemaOf derives a JSON schema from a Go type (tools: fields without
// omitempty are required, other fields allowed).
func schemaOf[T any]() json.RawMessage {
	return reflectSchema[T](&jsonschema.Reflector{DoNotReference: true, AllowAdditionalProperties: true})
}

// parametersSchemaOf derives a workflow's parameters schema from its input
// type, so clients (and the web console's start form) know what parameters
// it takes, and starts are checked against it. Structs refuse fields they
// do not have unless allowExtra; only fields tagged `jsonschema:"required"`
// are required (an absent field decodes to its zero value).
func parametersSchemaOf[T any](allowExtra bool) json.RawMessage {
	return reflectSchema[T](&jsonschema.Reflector{DoNotReference: true, AllowAdditionalProperties: allowExtra, RequiredFromJSONSchemaTags: true})
}

func reflectSchema[T any](r *jsonschema.Reflector) json.RawMessage {
	t := reflect.TypeFor[T]()
	var s *jsonschema.Schema
	if t.Kind() == reflect.Map || t.Kind() == reflect.Interface || t == reflect.TypeFor[json.RawMessage]() {
		s = &jsonschema.Schema{Type: "object"}
	} else {
		s = r.ReflectFromType(t)
	}
	s.Version = ""
	raw, err := json.Marshal(s)
	if err != nil {
		return json.RawMessage(`{"type":"object"}`)
	}
	return raw
}

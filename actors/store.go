package actors

import (
	"context"
	"encoding/json"
	"time"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// Store is everything the actors keep durably, defined here where it is
// used, from small parts. The bbolt store (*persistence.Store) implements
// all of it on one node; in cluster mode the server composes the
// execution core (ExecutionLog, SignalBox) on JetStream
// (persistence/jsstore) with the rest on the node's bbolt.
type Store interface {
	ExecutionLog
	SignalBox
	ScheduleStore
	AuditLog
	StatsStore
	RetentionStore
	PortableStore
	// Writable reports whether the store can take writes now (nil), or
	// why not (persistence.ErrUnwritable, ErrStorageFull).
	Writable() error
}

// ExecutionLog creates executions and holds their event logs,
// checkpoints and records: the execution core.
type ExecutionLog interface {
	CreateExecution(ctx context.Context, exec persistence.Execution, first events.Event) (existing *persistence.Execution, err error)
	CreateExecutionWithSteps(ctx context.Context, exec persistence.Execution, first events.Event, steps []persistence.Step) error
	ExecutionByIdempotencyKey(ctx context.Context, ws, workflow, key string) (string, bool, error)
	Execution(ctx context.Context, id string) (persistence.Execution, error)
	CommitPrepared(p *persistence.Prepared, done func(error))
	CommitPreparedWait(ctx context.Context, p *persistence.Prepared) error
	Events(ctx context.Context, id string, afterSeq uint64, limit int) ([]events.Event, error)
	StoredEvents(ctx context.Context, id string, afterSeq uint64, limit int) ([]events.Stored, error)
	Steps(ctx context.Context, id string) (map[string]persistence.Step, error)
	List(ctx context.Context, f persistence.ListFilter) (items []persistence.Execution, nextCursor string, err error)
	Unfinished(ctx context.Context) ([]persistence.Execution, error)
	WaitingIndex(ctx context.Context) (map[string]time.Time, error)
	DeleteExecution(ctx context.Context, ws, id string) (persistence.Execution, error)
}

// SignalBox keeps the signals an execution has not consumed yet.
type SignalBox interface {
	AddSignal(ctx context.Context, executionID, name string, payload json.RawMessage, maxPending int) (persistence.Signal, error)
	Signals(ctx context.Context, executionID string) ([]persistence.Signal, error)
}

// ScheduleStore keeps the schedules.
type ScheduleStore interface {
	CreateSchedule(ctx context.Context, sc persistence.Schedule) error
	Schedule(ctx context.Context, ws, id string) (persistence.Schedule, error)
	Schedules(ctx context.Context, ws string) ([]persistence.Schedule, error)
	UpdateSchedule(ctx context.Context, ws, id string, fn func(*persistence.Schedule) error) (persistence.Schedule, error)
	DeleteSchedule(ctx context.Context, ws, id string) error
}

// AuditLog keeps the audit records.
type AuditLog interface {
	AppendAudit(r persistence.AuditRecord, done func(error))
	ListAudit(ctx context.Context, f persistence.AuditFilter) (persistence.AuditPage, error)
	DeleteAuditBefore(ctx context.Context, cutoff time.Time, batch int) (n int, more bool, err error)
}

// StatsStore answers workflows.stats.
type StatsStore interface {
	WorkflowStats(ctx context.Context, workspace, workflow string, period persistence.Period, now time.Time) (persistence.WorkflowStats, error)
}

// RetentionStore removes executions that ended long enough ago.
type RetentionStore interface {
	DeleteExpired(ctx context.Context, now time.Time, retention persistence.RetentionFunc, limit int) (deleted int, more bool, err error)
}

// PortableStore exports and imports executions whole.
type PortableStore interface {
	Export(ctx context.Context, id string) (persistence.Record, error)
	Import(ctx context.Context, rec persistence.Record) error
}

var _ Store = (*persistence.Store)(nil)

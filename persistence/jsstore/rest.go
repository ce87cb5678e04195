package jsstore

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// The rest of the store, beside the execution core: schedules
// (schedules.go), the audit trail (audit.go), workflow stats (stats.go) and
// the ended index retention sweeps (retention.go). With the default prefix:
//
//	bucket WEFT_SCHEDULES        <workspace>.<schedule>                      the schedule (JSON)
//	stream WEFT_AUDIT            weft.audit.<workspace>                      one message per audit record
//	bucket WEFT_STATS            <workspace>.<workflow>.<m|h>.<unix start>   a rollup (persistence.StatsRollup), MaxAge 8 days
//	stream WEFT_ENDED            weft.ended.<workflow>.<workspace>.<exec>    one message per ended execution
//	bucket WEFT_ENDED_WORKFLOWS  <workflow>                                  the workflows the ended stream has

const (
	schedulesBucket      = "_SCHEDULES"
	auditStream          = "_AUDIT"
	statsBucket          = "_STATS"
	endedStream          = "_ENDED"
	endedWorkflowsBucket = "_ENDED_WORKFLOWS"

	auditRoot = ".audit."
	endedRoot = ".ended."
)

type rest struct {
	schedules  jetstream.KeyValue
	schedulesS jetstream.Stream // the bucket's stream, for purges

	audit       jetstream.Stream
	auditPrefix string        // weft.audit.
	auditSlots  chan struct{} // bounds the audit records in flight (AppendAudit)

	stats     jetstream.KeyValue
	statsName string

	ended          jetstream.Stream
	endedPrefix    string // weft.ended.
	endedWorkflows jetstream.KeyValue
	knownWorkflows sync.Map // workflow -> struct{}: put in endedWorkflows by this store
}

// setupRest creates (or updates) the streams and buckets of the rest.
func (s *Store) setupRest(ctx context.Context) error {
	p, r := s.opts.Prefix, s.opts.Replicas
	root := strings.ToLower(p)
	s.rest.auditPrefix, s.rest.endedPrefix = root+auditRoot, root+endedRoot
	s.rest.auditSlots = make(chan struct{}, auditInFlight)
	audit, err := s.stream(ctx, jetstream.StreamConfig{
		Name:        p + auditStream,
		Description: "weft: the audit trail, one subject per workspace, oldest first",
		Subjects:    []string{s.rest.auditPrefix + ">"},
		Duplicates:  dedupWindow,
	}, r)
	if err != nil {
		return err
	}
	ended, err := s.stream(ctx, jetstream.StreamConfig{
		Name:              p + endedStream,
		Description:       "weft: executions that ended, one subject each, oldest first per workflow (retention)",
		Subjects:          []string{s.rest.endedPrefix + ">"},
		MaxMsgsPerSubject: 1,
		Duplicates:        dedupWindow,
	}, r)
	if err != nil {
		return err
	}
	s.rest.audit, s.rest.ended = retryStream{audit}, retryStream{ended}
	s.rest.statsName = p + statsBucket
	statsCfg := kvStreamConfig(s.rest.statsName)
	statsCfg.MaxAge = statsKeep
	buckets := []struct {
		cfg    jetstream.StreamConfig
		kv     *jetstream.KeyValue
		stream *jetstream.Stream
	}{
		{kvStreamConfig(p + schedulesBucket), &s.rest.schedules, &s.rest.schedulesS},
		{statsCfg, &s.rest.stats, nil},
		{kvStreamConfig(p + endedWorkflowsBucket), &s.rest.endedWorkflows, nil},
	}
	for _, b := range buckets {
		st, err := s.stream(ctx, b.cfg, r)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(b.cfg.Name, "KV_")
		kv, err := s.js.KeyValue(ctx, name)
		if err != nil {
			return fmt.Errorf("jsstore: bind bucket %s: %w", name, err)
		}
		*b.kv = retryKV{kv}
		if b.stream != nil {
			*b.stream = retryStream{st}
		}
	}
	return nil
}

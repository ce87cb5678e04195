package persistence_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/persistence"
)

func TestAuditAppendListFilterCursor(t *testing.T) {
	s, _ := openStore(t, persistence.Options{NoSync: true})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 10 {
		for _, ws := range []string{"a", "ab"} {
			wg.Add(1)
			action := "execution.cancel"
			if i%2 == 0 {
				action = "workflow.start"
			}
			s.AppendAudit(persistence.AuditRecord{
				Time: t0.Add(time.Duration(i) * time.Second), Identity: fmt.Sprintf("u%d", i%3), Workspace: ws,
				Transport: "ws", Action: action, Target: fmt.Sprint(i), Outcome: "ok",
			}, func(err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			})
		}
	}
	wg.Wait()
	// Pages of 3, oldest first, workspace "a" only.
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := s.ListAudit(ctx, persistence.AuditFilter{Workspace: "a", Limit: 3, After: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			if r.Workspace != "a" {
				t.Fatalf("other workspace's record: %+v", r)
			}
			got = append(got, r.Target)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
		if pages > 10 {
			t.Fatal("cursor does not advance")
		}
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Fatalf("listed %v", got)
	}
	p, err := s.ListAudit(ctx, persistence.AuditFilter{Workspace: "a", Action: "execution.cancel", Identity: "u1",
		Since: t0.Add(2 * time.Second), Until: t0.Add(8 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 || p.Items[0].Target != "7" {
		t.Fatalf("filtered: %+v", p.Items)
	}
	if _, err := s.ListAudit(ctx, persistence.AuditFilter{Workspace: "a", After: "zz"}); err == nil {
		t.Fatal("bad cursor accepted")
	}
	// Retention: everything before t0+5s goes, in batches.
	total := 0
	for {
		n, more, err := s.DeleteAuditBefore(ctx, t0.Add(5*time.Second), 3)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if !more {
			break
		}
	}
	if total != 10 {
		t.Fatalf("deleted %d, want 10", total)
	}
	for _, ws := range []string{"a", "ab"} {
		p, _ := s.ListAudit(ctx, persistence.AuditFilter{Workspace: ws})
		if len(p.Items) != 5 || p.Items[0].Target != "5" {
			t.Fatalf("%s after sweep: %+v", ws, p.Items)
		}
	}
}

func TestAuditEmptyStore(t *testing.T) {
	s, _ := openStore(t, persistence.Options{NoSync: true})
	p, err := s.ListAudit(context.Background(), persistence.AuditFilter{Workspace: "a"})
	if err != nil || len(p.Items) != 0 || p.Items == nil {
		t.Fatalf("%+v %v", p, err)
	}
	if n, more, err := s.DeleteAuditBefore(context.Background(), time.Now(), 10); n != 0 || more || err != nil {
		t.Fatal(n, more, err)
	}
	if err := s.AppendAuditWait(context.Background(), persistence.AuditRecord{}); err == nil {
		t.Fatal("record without workspace accepted")
	}
}

package reference

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/weft-run/weft/workflows"
)

// SearchInput are the parameters of search-candidates (the AGNT5 example).
type SearchInput struct {
	UserQuery      string            `json:"user_query" jsonschema:"description=what the recruiter is looking for"`
	OrganizationID string            `json:"organization_id" jsonschema:"description=whose candidate pool to search"`
	Filters        map[string]string `json:"filters,omitempty" jsonschema:"description=exact-match filters, e.g. location"`
}

// Candidate is one person in a candidate pool.
type Candidate struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Title    string   `json:"title"`
	Location string   `json:"location"`
	Skills   []string `json:"skills"`
}

// RankedCandidate is a candidate with its score for the query.
type RankedCandidate struct {
	Candidate
	Score int `json:"score"`
}

// SearchResult is search-candidates' output.
type SearchResult struct {
	Query      string            `json:"query"`
	Summary    string            `json:"summary"`
	Candidates []RankedCandidate `json:"candidates"`
}

// RankInput is the input of the rank-candidates tool.
type RankInput struct {
	Query      string      `json:"query"`
	Criteria   string      `json:"criteria"`
	Candidates []Candidate `json:"candidates"`
}

// rankTool scores candidates by how many query and criteria words their
// title and skills contain.
var rankTool = workflows.NewTool("rank-candidates", "Scores candidates against the query and ranks them.",
	func(_ context.Context, in RankInput) ([]RankedCandidate, error) {
		words := strings.Fields(strings.ToLower(in.Query + " " + in.Criteria))
		out := make([]RankedCandidate, 0, len(in.Candidates))
		for _, c := range in.Candidates {
			text := strings.ToLower(c.Title + " " + strings.Join(c.Skills, " "))
			score := 0
			for _, w := range words {
				if len(w) > 2 && strings.Contains(text, strings.Trim(w, ".,:;")) {
					score++
				}
			}
			out = append(out, RankedCandidate{Candidate: c, Score: score})
		}
		slices.SortStableFunc(out, func(a, b RankedCandidate) int { return b.Score - a.Score })
		return out, nil
	})

// SearchCandidates loads an organization's candidates (a task), asks the
// LLM what the query is really after (streamed tokens), and ranks the
// candidates with a tool.
func SearchCandidates(ctx workflows.Context, in SearchInput) (SearchResult, error) {
	if strings.TrimSpace(in.UserQuery) == "" {
		return SearchResult{}, workflows.NonRetryable(fmt.Errorf("user_query is required"))
	}
	pool, err := workflows.Task(ctx, "fetch-candidates", func(context.Context) ([]Candidate, error) {
		return candidatePool(in.OrganizationID, in.Filters), nil
	}, workflows.WithInput(map[string]any{"organization_id": in.OrganizationID, "filters": in.Filters}))
	if err != nil {
		return SearchResult{}, err
	}
	answer, err := workflows.LLM(ctx, "extract-criteria", workflows.LLMRequest{
		Messages: []workflows.Message{
			{Role: "system", Content: "You help recruiters. Name the skills and seniority the query asks for."},
			{Role: "user", Content: in.UserQuery},
		},
	})
	if err != nil {
		return SearchResult{}, err
	}
	ranked, err := rankTool.Call(ctx, RankInput{Query: in.UserQuery, Criteria: answer.Text, Candidates: pool})
	if err != nil {
		return SearchResult{}, err
	}
	return SearchResult{Query: in.UserQuery, Summary: answer.Text, Candidates: ranked}, nil
}

// candidatePool stands in for a real database: a fixed pool, the same for
// every organization, filtered by exact-match filters.
func candidatePool(org string, filters map[string]string) []Candidate {
	pool := []Candidate{
		{ID: "c1", Name: "Ada Lovelace", Title: "Senior Go Engineer", Location: "London", Skills: []string{"go", "distributed systems", "postgres"}},
		{ID: "c2", Name: "Grace Hopper", Title: "Staff Engineer", Location: "New York", Skills: []string{"compilers", "go", "kubernetes"}},
		{ID: "c3", Name: "Alan Turing", Title: "ML Engineer", Location: "London", Skills: []string{"python", "machine learning", "llm"}},
		{ID: "c4", Name: "Barbara Liskov", Title: "Backend Engineer", Location: "Boston", Skills: []string{"java", "distributed systems", "go"}},
		{ID: "c5", Name: "Ken Thompson", Title: "Principal Engineer", Location: "Remote", Skills: []string{"go", "unix", "c"}},
	}
	_ = org
	return slices.DeleteFunc(pool, func(c Candidate) bool {
		if loc, ok := filters["location"]; ok && !strings.EqualFold(loc, c.Location) {
			return true
		}
		return false
	})
}

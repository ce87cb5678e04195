package reference

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/weft-run/weft/workflows"
)

// SearchInput are the parameters of search-candidates (the AGNT5 example).
// Filters is any JSON object, its values of any type, e.g.
// {"location":"remote","min_years":5}: the pool is filtered by the ones it
// knows (location, matched without regard to case) and others are ignored.
type SearchInput struct {
	UserQuery      string         `json:"user_query" jsonschema:"required,minLength=1,maxLength=2000,description=what the recruiter is looking for"`
	OrganizationID string         `json:"organization_id,omitempty" jsonschema:"maxLength=200,description=whose candidate pool to search"`
	Filters        map[string]any `json:"filters,omitempty" jsonschema:"description=any JSON object: location filters the pool by exact match; other keys are accepted and ignored"`
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

// RankInput is what the model passes to the rank-candidates tool. The
// candidates themselves are not in it: the tool ranks the pool this
// execution fetched, so the model never has to copy records back (tokens,
// and a chance to alter them).
type RankInput struct {
	Query    string `json:"query" jsonschema:"description=the recruiter's query"`
	Criteria string `json:"criteria" jsonschema:"description=skills and seniority to look for, space separated"`
}

// rankToolName is the tool's name, as the model sees it.
const rankToolName = "rank-candidates"

// newRankTool returns the rank-candidates tool over pool: it scores each
// candidate by how many query and criteria words their title and skills
// contain.
func newRankTool(pool []Candidate) *workflows.Tool[RankInput, []RankedCandidate] {
	return workflows.NewTool(rankToolName, "Scores the candidate pool against the query and criteria and ranks it, best first.",
		func(_ context.Context, in RankInput) ([]RankedCandidate, error) {
			return rank(pool, in.Query+" "+in.Criteria), nil
		})
}

func rank(pool []Candidate, text string) []RankedCandidate {
	var words []string
	for _, w := range strings.Fields(strings.ToLower(text)) {
		if w = strings.Trim(w, ".,:;"); len(w) > 2 && !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	out := make([]RankedCandidate, 0, len(pool))
	for _, c := range pool {
		text := strings.ToLower(c.Title + " " + strings.Join(c.Skills, " "))
		score := 0
		for _, w := range words {
			if strings.Contains(text, w) {
				score++
			}
		}
		out = append(out, RankedCandidate{Candidate: c, Score: score})
	}
	slices.SortStableFunc(out, func(a, b RankedCandidate) int { return b.Score - a.Score })
	return out
}

// recruiterPrompt is the agent's system prompt.
const recruiterPrompt = "You help recruiters. Work out the skills and seniority the query asks for, " +
	"call rank-candidates once with them, then name the best matches in one or two sentences."

// SearchCandidates loads an organization's candidates (a task), then runs
// an agent: the model (streaming its tokens) works out what the query is
// after and calls the rank-candidates tool, and once it has the ranking
// it summarises it. Offline, the scripted model of ScriptedLLM (or the
// default scripted reply) plays the recruiter.
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
	rankTool := newRankTool(pool)
	res, err := workflows.Agent(ctx, "recruiter", workflows.AgentRequest{
		Messages: []workflows.Message{
			{Role: "system", Content: fmt.Sprintf("%s There are %d candidates in the pool.", recruiterPrompt, len(pool))},
			{Role: "user", Content: in.UserQuery},
		},
		Tools:         []workflows.AnyTool{rankTool},
		MaxIterations: 4,
	})
	if err != nil {
		return SearchResult{}, err
	}
	var ranked []RankedCandidate
	if out, ok := res.LastOutput(rankToolName); ok {
		if err := json.Unmarshal(out, &ranked); err != nil {
			return SearchResult{}, workflows.NonRetryable(fmt.Errorf("decode the ranking: %w", err))
		}
	} else {
		// The model answered without ranking: rank on the query alone,
		// so the result still holds the candidates.
		if ranked, err = rankTool.Call(ctx, RankInput{Query: in.UserQuery}); err != nil {
			return SearchResult{}, err
		}
	}
	return SearchResult{Query: in.UserQuery, Summary: res.Text, Candidates: ranked}, nil
}

// candidatePool stands in for a real database: a fixed pool, the same for
// every organization, filtered by exact-match filters.
func candidatePool(org string, filters map[string]any) []Candidate {
	pool := []Candidate{
		{ID: "c1", Name: "Ada Lovelace", Title: "Senior Go Engineer", Location: "London", Skills: []string{"go", "distributed systems", "postgres"}},
		{ID: "c2", Name: "Grace Hopper", Title: "Staff Engineer", Location: "New York", Skills: []string{"compilers", "go", "kubernetes"}},
		{ID: "c3", Name: "Alan Turing", Title: "ML Engineer", Location: "London", Skills: []string{"python", "machine learning", "llm"}},
		{ID: "c4", Name: "Barbara Liskov", Title: "Backend Engineer", Location: "Boston", Skills: []string{"java", "distributed systems", "go"}},
		{ID: "c5", Name: "Ken Thompson", Title: "Principal Engineer", Location: "Remote", Skills: []string{"go", "unix", "c"}},
	}
	_ = org
	return slices.DeleteFunc(pool, func(c Candidate) bool {
		if loc, ok := filters["location"].(string); ok && !strings.EqualFold(loc, c.Location) {
			return true
		}
		return false
	})
}

// ScriptedLLM is the offline model `weft serve` uses by default. It plays
// the recruiter of search-candidates: first it names the criteria of the
// query and calls rank-candidates with them, then it summarises the
// ranking it gets back. Any other request gets
// workflows.DefaultScriptedReply. Like every scripted reply it depends on
// the request alone, so it is deterministic.
func ScriptedLLM() workflows.ScriptedProvider {
	return workflows.ScriptedProvider{Reply: recruiterReply}
}

func recruiterReply(req workflows.LLMRequest) workflows.LLMResponse {
	offered := slices.ContainsFunc(req.Tools, func(t workflows.ToolSpec) bool { return t.Name == rankToolName })
	if !offered {
		return workflows.DefaultScriptedReply(req)
	}
	var query, result string
	for _, m := range req.Messages {
		switch m.Role {
		case "user":
			query = m.Content
		case "tool":
			result = m.Content
		}
	}
	if result == "" {
		criteria := keywords(query)
		args, _ := json.Marshal(RankInput{Query: query, Criteria: strings.Join(criteria, " ")})
		return workflows.LLMResponse{
			Text:      fmt.Sprintf("Looking for: %s. Ranking the pool.", strings.Join(criteria, ", ")),
			ToolCalls: []workflows.ToolCall{{Name: rankToolName, Arguments: args}},
		}
	}
	var ranked []RankedCandidate
	if err := json.Unmarshal([]byte(result), &ranked); err != nil {
		return workflows.LLMResponse{Text: "I could not rank the candidates: " + result}
	}
	if len(ranked) == 0 {
		return workflows.LLMResponse{Text: fmt.Sprintf("No candidate in the pool matches %q.", query)}
	}
	var best []string
	for _, c := range ranked[:min(3, len(ranked))] {
		best = append(best, fmt.Sprintf("%s (%s, score %d)", c.Name, c.Title, c.Score))
	}
	return workflows.LLMResponse{Text: fmt.Sprintf("Best matches for %q: %s.", query, strings.Join(best, "; "))}
}

// keywords are the words of a query worth matching.
func keywords(query string) []string {
	stop := []string{"a", "an", "and", "or", "the", "with", "for", "in", "of", "to", "who", "someone", "looking"}
	var out []string
	for _, w := range strings.Fields(strings.ToLower(query)) {
		if w = strings.Trim(w, ".,:;!?"); w != "" && !slices.Contains(stop, w) && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

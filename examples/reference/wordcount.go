package reference

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/weft-run/weft/workflows"
)

// WordcountInput are the parameters of wordcount.
type WordcountInput struct {
	ArtifactID string `json:"artifact_id" jsonschema:"required,description=the artifact to count the words of (art_...)"`
}

// WordcountResult is wordcount's output; the frequencies are a new
// artifact (see its artifact_created event).
type WordcountResult struct {
	Words int `json:"words"`
}

// Wordcount reads an artifact, counts its words (a task), and stores the
// sorted word frequencies as a new artifact ("<count>\t<word>" lines, most
// frequent first): a recorded step that emits artifact_created.
func Wordcount(ctx workflows.Context, in WordcountInput) (WordcountResult, error) {
	if in.ArtifactID == "" {
		return WordcountResult{}, workflows.NonRetryable(fmt.Errorf("artifact_id is required"))
	}
	words, err := workflows.Task(ctx, "count", func(context.Context) (int, error) {
		n := 0
		err := eachWord(ctx, in.ArtifactID, func(string) { n++ })
		return n, err
	}, workflows.WithInput(in))
	if err != nil {
		return WordcountResult{}, err
	}
	// Read only when the step runs: a re-run returns the recorded artifact.
	freq := &lazyReader{open: func() (io.Reader, error) { return frequencies(ctx, in.ArtifactID) }}
	if _, err := workflows.PutArtifact(ctx, "frequencies.txt", "text/plain; charset=utf-8", freq); err != nil {
		return WordcountResult{}, err
	}
	return WordcountResult{Words: words}, nil
}

// eachWord calls fn with every whitespace-separated word of the artifact,
// lower-cased.
func eachWord(ctx workflows.Context, id string, fn func(string)) error {
	rc, _, err := workflows.OpenArtifact(ctx, id)
	if err != nil {
		return err
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(bufio.ScanWords)
	for sc.Scan() {
		fn(strings.ToLower(sc.Text()))
	}
	return sc.Err()
}

func frequencies(ctx workflows.Context, id string) (io.Reader, error) {
	counts := map[string]int{}
	if err := eachWord(ctx, id, func(w string) { counts[w]++ }); err != nil {
		return nil, err
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	var b bytes.Buffer
	for _, w := range words {
		fmt.Fprintf(&b, "%d\t%s\n", counts[w], w)
	}
	return &b, nil
}

// lazyReader builds its reader on the first Read.
type lazyReader struct {
	open func() (io.Reader, error)
	r    io.Reader
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.r == nil {
		r, err := l.open()
		if err != nil {
			return 0, err
		}
		l.r = r
	}
	return l.r.Read(p)
}

package jsstore

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Names of weft's streams and buckets, after Options.Prefix (WEFT_EVENTS,
// KV_WEFT_EXECUTIONS, ...), and the subject roots of its streams after the
// prefix in lower case (weft.ev.<workspace>.<execution>).
const (
	eventsStream  = "_EVENTS"
	signalsStream = "_SIGNALS"

	recordsBucket    = "_EXECUTIONS"
	stepsBucket      = "_STEPS"
	idemBucket       = "_IDEMPOTENCY"
	listBucket       = "_LIST"
	unfinishedBucket = "_UNFINISHED"

	eventsRoot  = ".ev."
	signalsRoot = ".sig."
)

// maxIDLen bounds execution ids, workspaces and step ids: they become
// subject tokens and KV keys, and NATS subjects should stay short.
const maxIDLen = 512

// token turns s into one subject token and KV key part. Tokens of
// [A-Za-z0-9_-] (weft's generated ids, most workspace names) stay as they
// are, so subjects read well in `nats stream view`; anything else (a dot,
// a space, a wildcard, non-ASCII, the empty string) becomes "=" and its
// unpadded URL-safe base64. No plain token starts with "=", so the
// encoding is one to one.
func token(s string) string {
	if plainToken(s) {
		return s
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(s))
}

func plainToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// untoken reverses token.
func untoken(t string) (string, error) {
	if !strings.HasPrefix(t, "=") {
		if !plainToken(t) {
			return "", fmt.Errorf("jsstore: malformed token %q", t)
		}
		return t, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(t[1:])
	if err != nil {
		return "", fmt.Errorf("jsstore: malformed token %q: %w", t, err)
	}
	return string(raw), nil
}

// names are the stream, bucket and subject names of one store prefix.
type names struct {
	events, signals                        string // stream names
	records, steps, idem, list, unfinished string // bucket names
	eventsPrefix, signalsPrefix            string // subject prefixes, ending in "."
}

func newNames(prefix string) names {
	root := strings.ToLower(prefix)
	return names{
		events: prefix + eventsStream, signals: prefix + signalsStream,
		records: prefix + recordsBucket, steps: prefix + stepsBucket, idem: prefix + idemBucket,
		list: prefix + listBucket, unfinished: prefix + unfinishedBucket,
		eventsPrefix: root + eventsRoot, signalsPrefix: root + signalsRoot,
	}
}

// eventsSubject is the subject of one execution's log.
func (n names) eventsSubject(ws, id string) string {
	return n.eventsPrefix + token(ws) + "." + token(id)
}

// signalsSubject is the subject of one execution's signal inbox.
func (n names) signalsSubject(ws, id string) string {
	return n.signalsPrefix + token(ws) + "." + token(id)
}

func recordKey(id string) string { return token(id) }

func stepKey(id, step string) string { return token(id) + "." + token(step) }

// stepsFilter matches the step keys of one execution.
func stepsFilter(id string) string { return token(id) + ".>" }

func idemKey(ws, workflow, key string) string {
	return token(ws) + "." + token(workflow) + "." + token(key)
}

func listKey(ws, id string) string { return token(ws) + "." + token(id) }

// listFilter matches the list entries of one workspace.
func listFilter(ws string) string { return token(ws) + ".>" }

func unfinishedKey(id string) string { return token(id) }

// kvSubject is the subject a KV bucket stores key under (for purges and
// leader reads through the bucket's stream).
func kvSubject(bucket, key string) string { return "$KV." + bucket + "." + key }

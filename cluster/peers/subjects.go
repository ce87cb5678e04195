package peers

import (
	"encoding/base64"
	"strings"
)

// prefix of every subject of the peers' traffic.
const prefix = "weft"

// Subjects every node subscribes to.
const (
	roomSubjects      = prefix + ".room.>"
	workspaceSubjects = prefix + ".ws.>"
)

// maxPlainToken is the longest name kept as it is in a subject.
const maxPlainToken = 64

// Token turns a workspace or room name into one subject token. A name of
// 1 to 64 ASCII letters, digits, '-' and '_' stays as it is, readable in
// NATS monitoring; any other (empty, long, or with dots, spaces,
// wildcards, non-ASCII) becomes '~' and its unpadded base64url encoding.
// A plain name never starts with '~', so two names never share a token.
func Token(name string) string {
	if plain(name) {
		return name
	}
	return "~" + base64.RawURLEncoding.EncodeToString([]byte(name))
}

func plain(name string) bool {
	if name == "" || len(name) > maxPlainToken {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// roomSubject is where a room's traffic goes.
func roomSubject(workspace, room string) string {
	return strings.Join([]string{prefix, "room", Token(workspace), Token(room)}, ".")
}

// workspaceSubject is where a workspace's connection traffic goes.
func workspaceSubject(workspace string) string {
	return strings.Join([]string{prefix, "ws", Token(workspace)}, ".")
}

package reference

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/weft-run/weft/workflows"
)

// ChatRoom is the room the chat-bot listens to.
const ChatRoom = "chat"

// ChatMessage is what a room-bound workflow receives for each message
// broadcast in its room.
type ChatMessage struct {
	Room     string          `json:"room"`
	From     string          `json:"from"`
	Identity string          `json:"identity"`
	Message  json.RawMessage `json:"message"`
}

// ChatBot answers every message broadcast in the "chat" room, into the
// room: the workflow is a source (bound to the room) and a sink
// (workflows.Broadcast). Its own answers do not wake it.
func ChatBot(ctx workflows.Context, in ChatMessage) (string, error) {
	var msg struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(in.Message, &msg)
	if strings.TrimSpace(msg.Text) == "" {
		msg.Text = string(in.Message)
	}
	answer, err := workflows.LLM(ctx, "answer", workflows.LLMRequest{Messages: []workflows.Message{
		{Role: "system", Content: "You are a friendly chat bot. Answer in one sentence."},
		{Role: "user", Content: msg.Text},
	}})
	if err != nil {
		return "", err
	}
	reply := fmt.Sprintf("@%s %s", in.Identity, answer.Text)
	if _, err := workflows.Broadcast(ctx, in.Room, map[string]string{"text": reply, "bot": "chat-bot"}); err != nil {
		return "", err
	}
	return reply, nil
}

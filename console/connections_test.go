package console_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
)

// TestConsoleRoomsAndConnections: the rooms and connections page lists a
// real second socket client (an app, identity app-bot) with its identity
// and connection time; looks up a room's members; joins the room and shows
// the app's presence live (room.left, room.joined); sends the app a
// message (a message that is not JSON is refused first); and closes its
// connection (the app gets close 4000, the list drops it).
func TestConsoleRoomsAndConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	srv := consoleServer(t, "tok-conn", "kim")
	app := dialPeer(t, srv, "tok-app")
	if f := app.call("room.join", map[string]any{"room": "ops", "presence": true}); f.Error != nil {
		t.Fatalf("app joins ops: %+v", f.Error)
	}

	ctx := headless(t, 60*time.Second)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening) // starts the browser: before any other action
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			go func() { // accept every confirm(), not on the goroutine that receives events
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}()
		}
	}()
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	appRow := `#conn-rows tr[data-connection="` + app.id + `"]`
	err := chromedp.Do(ctx,
		login(srv, "tok-conn"),
		route("#/connections"),
		chromedp.WaitVisible(css("#conn-rows")),
		waitText(appRow, "app-bot"),
		waitText(appRow, "ops"),
		waitText("#conn-rows", "(this console)"),
		waitEval(`document.querySelector('`+appRow+` time').getAttribute("datetime") !== ""`),
		// Members of ops, looked up without joining.
		chromedp.SetValue(css("#members-room"), "ops"),
		chromedp.Click(css("#members-form button")),
		waitText(`#room-list li[data-room="ops"]`, "1 member(s) · looked up"),
		waitText(`#room-list li[data-room="ops"] tr[data-member="`+app.id+`"]`, "app-bot"),
		// Joined, with presence.
		chromedp.SetValue(css("#room-name"), "ops"),
		chromedp.Click(css("#room-form button")),
		waitText(`#room-list li[data-room="ops"]`, "2 member(s) · joined, with presence"),
	)
	if err != nil {
		t.Fatalf("connections and rooms: %v", err)
	}
	joined := app.push("room.joined")
	var who struct {
		Room     string `json:"room"`
		Identity string `json:"identity"`
	}
	if json.Unmarshal(joined.Data, &who) != nil || who.Room != "ops" || who.Identity != "kim" {
		t.Errorf("the app saw %s, want the console (kim) join ops", joined.Data)
	}

	// Presence, live: the app leaves and comes back.
	if f := app.call("room.leave", map[string]any{"room": "ops"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	if err := chromedp.Do(ctx, waitText("#room-log", "room.left ops: app-bot ("+app.id+")"),
		waitText(`#room-list li[data-room="ops"]`, "1 member(s)")); err != nil {
		t.Fatalf("room.left: %v", err)
	}
	if f := app.call("room.join", map[string]any{"room": "ops", "presence": true}); f.Error != nil {
		t.Fatal(f.Error)
	}
	if err := chromedp.Do(ctx, waitText("#room-log", "room.joined ops: app-bot ("+app.id+")"),
		waitText(`#room-list li[data-room="ops"]`, "2 member(s)")); err != nil {
		t.Fatalf("room.joined: %v", err)
	}

	// Send: a message that is not JSON is refused in the page; then sent.
	err = chromedp.Do(ctx,
		chromedp.Click(css(appRow+" button.send")),
		waitEval(`document.getElementById("send-target").value === "`+app.id+`"`),
		chromedp.SetValue(css("#send-message"), `{"text": hi}`),
		chromedp.Click(css("#send-button")),
		waitText("#send-error", "message is not valid JSON"),
		chromedp.SetValue(css("#send-message"), `{"text":"hi from the console"}`),
		chromedp.Click(css("#send-button")),
		waitText("#send-result", "sent to "+app.id),
	)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	msg := app.push("message")
	var sent struct {
		From    string          `json:"from"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(msg.Data, &sent) != nil || string(sent.Message) != `{"text":"hi from the console"}` || sent.From == "" {
		t.Errorf("the app got %s, want the console's message (and only the good one)", msg.Data)
	}
	screenshot(t, ctx, "connections")

	// Close: the app's connection ends with 4000 and leaves the list.
	if err := chromedp.Do(ctx, chromedp.Click(css(appRow+" button.close")), waitText("#send-result", "closed "+app.id)); err != nil {
		t.Fatalf("close: %v", err)
	}
	if code := app.closeCode(); code != 4000 {
		t.Errorf("the app's connection closed with %d, want 4000", code)
	}
	if err := chromedp.Do(ctx, waitNoText("#conn-rows", app.id)); err != nil {
		t.Fatalf("the closed connection stays listed: %v", err)
	}
}

// push reads until a push of the given type, skipping others.
func (p *peer) push(typ string) frame {
	p.t.Helper()
	for {
		f := p.read()
		if f.Type == typ && f.ID == "" {
			return f
		}
	}
}

// closeCode reads until the server closes the connection.
func (p *peer) closeCode() int {
	p.t.Helper()
	for {
		_, err := p.readErr()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if strings.Contains(err.Error(), "timeout") {
			p.t.Fatalf("no close: %v", err)
		}
		p.t.Fatalf("read ended without a close frame: %v", err)
	}
}

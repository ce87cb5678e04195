package console_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/weft-run/weft/examples/reference"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// consoleServer boots a weft server with the reference workflows (and
// extra registrations) and one admin token (identity in workspace acme);
// it serves the console it is tested through, and stops at test end.
func consoleServer(t *testing.T, token, identity string, extra ...func(*workflows.Registry)) *server.Server {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	// tok-app is an app beside the console (a peer: see socket_test.go).
	doc := fmt.Sprintf(`{"keys":[{"token":%q,"identity":%q,"workspace":"acme","scopes":["admin"]},
		{"token":"tok-app","identity":"app-bot","workspace":"acme","scopes":["rooms:join","executions:read","workflows:read"]}]}`, token, identity)
	if err := os.WriteFile(keys, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := workflows.NewRegistry()
	reference.Register(reg)
	for _, f := range extra {
		f(reg)
	}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: dir, KeysFile: keys, Registry: reg,
		LLM: reference.ScriptedLLM(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}

// headless starts headless Chromium (or skips: see chromium) and returns
// a browser context that ends after timeout, or at test end.
func headless(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	return ctx
}

// login opens the console, logs in with token and waits for the app.
func login(srv *server.Server, token string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate("http://"+srv.Addr()+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#app")),
	)
}

// route goes to a console route (a URL hash such as "#/workflows") as a
// click on a link would.
func route(hash string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", hash))
}

// startFromForm picks a workflow on the workflows page and shows its
// parameters form.
func startFromForm(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		route("#/workflows/"+name),
		chromedp.WaitVisible(chromedp.CSS("#start-form")),
		chromedp.WaitReady(chromedp.CSS(`#workflow option[value="`+name+`"]`)),
		chromedp.SetValue(chromedp.CSS("#workflow"), name),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("workflow").dispatchEvent(new Event("change"))`),
	)
}

// screenshot saves the page as $WEFT_SCREENSHOTS/<name>.png, for a person
// to look at (CI keeps them as artifacts); without the variable it saves
// nothing.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("WEFT_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG (lower is JPEG)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// downloads follows the browser's downloads into a temp dir: the name the
// page gave each (its <a download>) and its bytes once complete.
type downloads struct {
	dir   string
	names chan string
	done  chan string // "completed <guid>" or "canceled <guid>"
}

// watchDownloads must run before the browser's first action (it starts
// the browser); allow() then lets the page download.
func watchDownloads(t *testing.T, ctx context.Context) *downloads {
	d := &downloads{dir: t.TempDir(), names: make(chan string, 4), done: make(chan string, 4)}
	begun := chromedp.Events(ctx, browser.DownloadWillBegin)
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	go func() {
		for ev, err := range begun {
			if err != nil {
				return
			}
			d.names <- ev.SuggestedFilename
		}
	}()
	go func() {
		for ev, err := range progress {
			if err != nil {
				return
			}
			if ev.State == browser.DownloadProgressStateCompleted || ev.State == browser.DownloadProgressStateCanceled {
				d.done <- string(ev.State) + " " + ev.GUID
			}
		}
	}()
	return d
}

func (d *downloads) allow() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		enabled := true
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: d.dir, EventsEnabled: &enabled,
		})
		return err
	})
}

// next waits for the next download and returns its name and bytes.
func (d *downloads) next(t *testing.T, ctx context.Context) (string, []byte) {
	t.Helper()
	var name, state string
	for name == "" || state == "" {
		select {
		case name = <-d.names:
		case state = <-d.done:
		case <-ctx.Done():
			t.Fatalf("no download (name %q, state %q)", name, state)
		}
	}
	guid, ok := strings.CutPrefix(state, "completed ")
	if !ok {
		t.Fatalf("download %s: %s", name, state)
	}
	data, err := os.ReadFile(filepath.Join(d.dir, guid))
	if err != nil {
		t.Fatal(err)
	}
	return name, data
}

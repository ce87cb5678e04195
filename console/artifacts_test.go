package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// TestConsoleDownloadsArtifacts: an artifact uploaded over HTTP is counted
// by wordcount, started from the console; the execution detail lists the
// artifact it creates (frequencies.txt, its size) from its
// artifact_created event, and Download saves its bytes (fetched with the
// token, saved through a Blob URL) under its name.
func TestConsoleDownloadsArtifacts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	srv := consoleServer(t, "tok-art", "fay")

	// Upload the text to count over the HTTP plane.
	req, err := http.NewRequest("POST", "http://"+srv.Addr()+"/api/v1/artifacts?name=words.txt",
		strings.NewReader("the cat and the dog\nThe end\n"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok-art")
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var uploaded struct {
		ArtifactID string `json:"artifact_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&uploaded)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || uploaded.ArtifactID == "" {
		t.Fatalf("upload: %d %+v (%v)", resp.StatusCode, uploaded, err)
	}
	const want = "3\tthe\n1\tand\n1\tcat\n1\tdog\n1\tend\n"

	ctx := headless(t, 60*time.Second)

	// Downloads land in a temp dir, named by their GUID; the events tell
	// the name the page gave (the <a download>) and when one is complete.
	downloads := t.TempDir()
	begun := chromedp.Events(ctx, browser.DownloadWillBegin) // starts the browser: before any other action
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	names := make(chan string, 1)
	go func() {
		for ev, err := range begun {
			if err != nil {
				return
			}
			select {
			case names <- ev.SuggestedFilename:
			default: // one download is expected
			}
		}
	}()
	done := make(chan string, 1)
	go func() {
		for ev, err := range progress {
			if err != nil {
				return
			}
			if ev.State == browser.DownloadProgressStateCompleted || ev.State == browser.DownloadProgressStateCanceled {
				select {
				case done <- string(ev.State) + " " + ev.GUID:
				default:
				}
			}
		}
	}()

	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	eventsEnabled := true
	err = chromedp.Do(ctx,
		chromedp.Navigate("http://"+srv.Addr()+"/console/"),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior:      browser.SetDownloadBehaviorBehaviorAllowAndName,
				DownloadPath:  downloads,
				EventsEnabled: &eventsEnabled,
			})
			return err
		}),
		chromedp.WaitVisible(css("#login-form")),
		chromedp.SetValue(css("#token"), "tok-art"),
		chromedp.Click(css("#login-button")),
		chromedp.WaitVisible(css("#app")),
		startFromForm("wordcount"),
		chromedp.WaitVisible(css(`input[data-param="artifact_id"]`)),
		chromedp.SetValue(css(`input[data-param="artifact_id"]`), uploaded.ArtifactID),
		chromedp.Click(css("#start-button")),
		chromedp.WaitVisible(css("#detail")),
		waitText("#artifact-rows", "frequencies.txt"),
		waitText("#detail-status", "completed"),
	)
	if err != nil {
		t.Fatalf("wordcount in the console: %v", err)
	}
	row, err := chromedp.Run(ctx, chromedp.Text(css("#artifact-rows")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(row, "frequencies.txt") || !strings.Contains(row, fmt.Sprintf("%d B", len(want))) {
		t.Errorf("artifact row %q, want frequencies.txt and %d B", row, len(want))
	}
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("artifacts-none").hidden`)); err != nil || !hidden {
		t.Errorf(`"none yet" still shown with an artifact (%v)`, err)
	}

	if err := chromedp.Do(ctx, chromedp.Click(css(`#artifact-rows button.download`))); err != nil {
		t.Fatalf("click Download: %v", err)
	}
	var name, state string
	for name == "" || state == "" {
		select {
		case name = <-names:
		case state = <-done:
		case <-ctx.Done():
			t.Fatalf("no download (name %q, state %q)", name, state)
		}
	}
	if name != "frequencies.txt" {
		t.Errorf("downloaded as %q, want frequencies.txt", name)
	}
	guid, ok := strings.CutPrefix(state, "completed ")
	if !ok {
		t.Fatalf("download %s", state)
	}
	got, err := os.ReadFile(filepath.Join(downloads, guid))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("downloaded %q, want %q", got, want)
	}
	if text, _ := chromedp.Run(ctx, chromedp.Text(css("#detail-error"))); text != "" {
		t.Errorf("detail error after a download: %q", text)
	}
}

package render

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds the browser the report test runs. On a developer's machine a missing one
// skips the test; in CI (CI set) it fails: make test installs Debian's chromium when missing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH: make test installs Debian's chromium package (make deps-test)")
	}
	t.Skip("no chromium on PATH (make deps-test installs Debian's chromium package)")
	return ""
}

// TestHTMLInBrowser opens the report of the recorded lab host in headless Chromium: the page
// logs no error and requests nothing beyond itself, its funnel shows the stages in path
// order with the verdict's stage marked and drawn, and it prints. The screenshot and the PDF
// are the test's artifacts (go test -artifacts keeps them; the log names the directory).
func TestHTMLInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	exe := chromium(t)
	var b bytes.Buffer
	if err := HTML(&b, recordedResult(t)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	// A fresh profile and nothing that reaches for the network: on a machine without one the
	// browser otherwise stalls on its background requests.
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1100, 900)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithErrorf(func(f string, a ...any) {}))
	defer cancelTab()

	var mu sync.Mutex
	var problems, requests []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, "console "+string(ev.Type))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				problems = append(problems, string(ev.Entry.Level)+": "+ev.Entry.Text)
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		}
	}); err != nil {
		t.Fatal(err)
	}

	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file), chromedp.WaitVisible("#funnels svg")); err != nil {
		t.Fatal(err)
	}
	stages := evaluate[[]string](ctx, t, `[...document.querySelectorAll("#funnels svg g.stage")].map(g => g.dataset.stage)`)
	marked := evaluate[string](ctx, t, `document.querySelector('g.stage[data-mark="verdict"]').dataset.stage`)
	// The marked stage's drop bar is drawn (has a size on screen) and right of the first
	// stage: path order is left to right.
	lossBox := evaluate[[]float64](ctx, t, `(() => { const r = document.querySelector('g.stage[data-mark="verdict"] rect.drop').getBoundingClientRect(); return [r.x, r.width, r.height]; })()`)
	firstBox := evaluate[[]float64](ctx, t, `(() => { const r = document.querySelector('#funnels svg g.stage').getBoundingClientRect(); return [r.x, r.width, r.height]; })()`)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPrintBackground()))
	if err != nil {
		t.Fatal(err)
	}

	art := t.ArtifactDir()
	for name, data := range map[string][]byte{"report.html": b.Bytes(), "report.jpg": shot, "report.pdf": pdf} {
		if err := os.WriteFile(filepath.Join(art, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshot and PDF in %s", art)

	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the page logged: %q", problems)
	}
	for _, u := range requests {
		if !strings.HasPrefix(u, "file://") {
			t.Errorf("the page requested %s", u)
		}
	}
	want := []string{"netfilter", "ip", "socket-lookup", "udp-rcvbuf"}
	if !slices.Equal(stages, want) {
		t.Errorf("funnel stages %q, want %q", stages, want)
	}
	if marked != "udp-rcvbuf" {
		t.Errorf("marked stage %q, want udp-rcvbuf", marked)
	}
	if len(lossBox) != 3 || len(firstBox) != 3 || lossBox[1] <= 0 || lossBox[2] < 50 || lossBox[0] <= firstBox[0] {
		t.Errorf("loss bar at %v, first stage at %v: not drawn to the right of the first stage", lossBox, firstBox)
	}
	if len(shot) < 1000 || !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Errorf("screenshot %d bytes, PDF starts %q", len(shot), pdf[:min(len(pdf), 8)])
	}
}

func evaluate[T any](ctx context.Context, t *testing.T, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

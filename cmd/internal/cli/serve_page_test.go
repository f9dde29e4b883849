package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
)

// serve's / is advise's HTML report of the last interval; before the first interval ends it
// says so with a 503 rather than an empty page.
func TestServeHTMLReport(t *testing.T) {
	s := testServer(t, serveFlags{})
	srv := httptest.NewServer(s.handler())
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := get("/"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "no interval measured yet") {
		t.Fatalf("/ before the first interval: %d %q", resp.StatusCode, body)
	}

	t0 := time.Now().Add(-time.Second)
	s.prev = hostSample(2, t0, 1, 50)
	if err := s.step(hostSample(2, t0.Add(time.Second), 2, 50), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	resp, body := get("/")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("/: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.HasPrefix(body, "<!DOCTYPE html>") || !strings.Contains(body, `data-stage="udp-rcvbuf" data-mark="verdict"`) {
		t.Errorf("/ is not the report with the lossy stage marked:\n%s", body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if resp, _ := get("/index.html"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/index.html: %d, want 404", resp.StatusCode)
	}
}

// --html writes the page beside any -o; -o html writes it to stdout.
func TestAdviseHTML(t *testing.T) {
	lab.RequireRoot(t)
	ns := lab.NewNS(t, "html")
	p := filepath.Join(t.TempDir(), "report.html")
	code, stdout, stderr := run(t, "advise", "--no-bpf", "--interval", "200ms", "--netns", ns.Name, "-o", "json", "--html", p)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "<!DOCTYPE html>") || !strings.Contains(string(b), "netns "+ns.Name) ||
		!strings.HasPrefix(strings.TrimSpace(stdout), "{") {
		t.Errorf("html file %q, stdout %q", b, stdout)
	}
	code, stdout, stderr = run(t, "advise", "--no-bpf", "--interval", "200ms", "--netns", ns.Name, "-o", "html")
	if code != ExitOK || !strings.HasPrefix(stdout, "<!DOCTYPE html>") {
		t.Errorf("-o html: exit %d, stderr %q, stdout %.80q", code, stderr, stdout)
	}
}

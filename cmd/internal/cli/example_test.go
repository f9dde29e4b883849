package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nettune/nettune/internal/lab"
)

var example = flag.Bool("example", false, "write docs/examples/ again from a lab scenario (root)")

// exampleDir holds the README's example outputs: the table and the HTML report of one lab run.
const exampleDir = "../../../docs/examples"

// TestExampleReport checks the committed example report: a page advise wrote, which names
// its lossy stage and loads nothing. With -example (root) it first runs the lab scenario
// again: a UDP receiver that never sets SO_RCVBUF and falls behind, advised with the probes
// attached, its table and its HTML report written to docs/examples.
func TestExampleReport(t *testing.T) {
	if *example {
		recordExample(t)
	}
	b, err := os.ReadFile(filepath.Join(exampleDir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.Contains(page, `data-stage="udp-rcvbuf" data-mark="verdict"`) ||
		!strings.Contains(page, "sysctl -w net.core.rmem_default=") {
		t.Errorf("docs/examples/report.html is not a report of UDP receive-buffer loss with its plan (go test ./cmd/internal/cli -run TestExampleReport -example)")
	}
	for _, bad := range []string{"<script", "<link", "href=", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("docs/examples/report.html contains %q", bad)
		}
	}
}

func recordExample(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	stop := background(t, v, udpRcvbufNoSetsockopt)
	html := filepath.Join(exampleDir, "report.html")
	var out, errb bytes.Buffer
	err := Execute(context.Background(), []string{"advise", "--netns", v.B.Name, "--interval", "3s", "--html", html},
		Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	stop()
	if code := ExitCode(err, &errb); code != ExitLoss {
		t.Fatalf("advise: exit %d, stderr %s", code, errb.String())
	}
	if err := os.WriteFile(filepath.Join(exampleDir, "advise.txt"), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

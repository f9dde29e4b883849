package render

import (
	"bytes"
	"context"
	"github.com/nettune/nettune/internal/golden"
	"strings"
	"testing"

	"github.com/nettune/nettune/collect/replay"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// recording is the recorded lab host of the end-to-end test (testdata/README.md): UDP
// datagrams lost to a small receive buffer, a firewall DROP rule and a port scan.
const recording = "../testdata/recorded/udp-rcvbuf"

// recordedResult replays the recorded host through the pipeline, as advise does; no root.
func recordedResult(t testing.TB) *pipeline.Result {
	t.Helper()
	h, err := replay.Load(recording, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	run := pipeline.Open(pipeline.Options{ProcRoot: h.ProcRoot(), SysRoot: h.SysRoot(), Kernel: h,
		Policy: policy.DefaultConfig()})
	defer run.Close()
	res, err := run.Measure(context.Background(), func(context.Context) error { return h.Next() })
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestHTMLGolden(t *testing.T) {
	// The recorded lab host's page is docs/examples/report.html (TestExampleReport).
	for name, res := range map[string]func() *pipeline.Result{"loss": lossResult, "clean": cleanResult} {
		var b bytes.Buffer
		if err := HTML(&b, res()); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, "testdata/html/"+name+".html", b.Bytes())
	}
}

// Names and evidence come from the host (a namespace can be called anything): the page
// escapes them, and it loads nothing from anywhere and runs no script.
func TestHTMLEscapesAndStandsAlone(t *testing.T) {
	res := lossResult()
	evil := `web"><script>alert(1)</script>`
	res.Report.Netns = evil
	res.Report.Findings[0].Netns = evil
	res.Report.Findings[0].Evidence[0].Note = `<img src=x onerror=alert(2)>`
	for i := range res.Report.Funnel {
		res.Report.Funnel[i].Netns = evil
	}
	var b bytes.Buffer
	if err := HTML(&b, res); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script", "<img", "<link", "<iframe", "<object", "href=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the namespace name is not shown escaped")
	}
	// The only URL on the page is the SVG namespace, which is a name, not a resource.
	if n := strings.Count(page, "http"); n != strings.Count(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("%d http references, want only the SVG namespace", n)
	}
}

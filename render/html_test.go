package render

import (
	"bytes"
	"context"
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
	for name, res := range map[string]func() *pipeline.Result{"loss": lossResult, "clean": cleanResult,
		"recorded": func() *pipeline.Result { return recordedResult(t) }} {
		var b bytes.Buffer
		if err := HTML(&b, res()); err != nil {
			t.Fatal(err)
		}
		golden(t, "html/"+name+".html", b.Bytes())
	}
}

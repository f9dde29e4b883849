package render

import (
	"bytes"
	"github.com/nettune/nettune/internal/golden"
	"os"
	"testing"
)

// exampleReport is the README's example of the HTML report: the page of the recorded lab host
// (UDP receive-buffer loss beside a firewall DROP rule and a port scan).
const exampleReport = "../docs/examples/report.html"

// TestExampleReport keeps the committed example the page nettune writes today
// (go test ./render -update rewrites it with the goldens).
func TestExampleReport(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, recordedResult(t)); err != nil {
		t.Fatal(err)
	}
	if golden.Updating() {
		if err := os.WriteFile(exampleReport, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(exampleReport)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Error("docs/examples/report.html is not the page advise writes today (go test ./render -update)")
	}
}

// TestREADMESession: the README's session shows the table advise prints today for the
// recorded lab host at 80 columns (look/recorded_80.txt), indented as a code block.
func TestREADMESession(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := TableLook(&b, recordedResult(t), Look{Width: 80}); err != nil {
		t.Fatal(err)
	}
	var block bytes.Buffer
	for _, line := range bytes.SplitAfter(b.Bytes(), []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			block.WriteString("    ")
		}
		block.Write(line)
	}
	if !bytes.Contains(readme, block.Bytes()) {
		t.Errorf("README.md's session does not show advise's table as it is today; put this under `$ sudo nettune advise --netns host --no-bpf`:\n%s", block.String())
	}
}

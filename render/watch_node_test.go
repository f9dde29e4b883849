package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nettune/nettune/internal/golden"
)

// One frame of advise --watch over the node, at 80 columns: golden (go test ./render -update).
// It has the node's verdict and the lossy namespaces' blocks, worst first, and counts the
// rest in one line; no list of quiet namespaces, no foreign programs, no NOT MEASURED.
func TestNodeWatchFrame(t *testing.T) {
	var b bytes.Buffer
	if err := NodeWatch(&b, nodeResult(), Look{Width: 80}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/node/watch_80.txt", b.Bytes())
	checkWidth(t, "node/watch_80", b.String(), 80)
	out := b.String()
	if !strings.HasPrefix(out, "nettune advise --watch: ") {
		t.Errorf("frame does not start with the watch header:\n%s", out)
	}
	pod, unshared := strings.Index(out, "━━ 1/2  pod default/dns-0"), strings.Index(out, "━━ 2/2  netns of pid 4242 udp-sink")
	verdict := strings.Index(out, "VERDICT: ")
	if verdict < 0 || pod < verdict || unshared < pod {
		t.Errorf("want the verdict, then the lossy namespaces worst first:\n%s", out)
	}
	for _, want := range []string{"3 namespaces without loss in this interval.",
		"1 namespace vanished during the interval (left out); 1 appeared"} {
		if !strings.Contains(out, want) {
			t.Errorf("frame lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"NOT MEASURED", "--all lists them"} {
		if strings.Contains(out, not) {
			t.Errorf("frame has %q, which advise without --watch shows:\n%s", not, out)
		}
	}
}

// Fit keeps a frame's top on a short terminal, counts wrapped lines as the rows they take,
// and says how much it cut; a frame that fits, or an unknown height, is left whole.
func TestFit(t *testing.T) {
	frame := []byte("head\n" + strings.Repeat("x", 25) + "\nthree\nfour\nfive\n")
	if got := Fit(frame, 80, 0); !bytes.Equal(got, frame) {
		t.Errorf("height 0 changed the frame: %q", got)
	}
	if got := Fit(frame, 80, 5); !bytes.Equal(got, frame) {
		t.Errorf("a frame of 5 rows on 5 changed: %q", got)
	}
	// At 10 columns the second line takes 3 rows: head, xxx (3), then the note.
	want := "head\n" + strings.Repeat("x", 25) + "\n… 3 more lines: a taller terminal or advise without --watch shows them\n"
	if got := string(Fit(frame, 10, 5)); got != want {
		t.Errorf("Fit(10×5) = %q, want %q", got, want)
	}
	want = "head\n… 4 more lines: a taller terminal or advise without --watch shows them\n"
	if got := string(Fit(frame, 80, 2)); got != want {
		t.Errorf("Fit(80×2) = %q, want %q", got, want)
	}
}

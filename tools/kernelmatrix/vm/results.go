package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
)

// Outcome is a test's result.
type Outcome string

// Outcomes, as go test reports them; Unfinished is a test that started and never ended
// (the binary crashed, timed out, or the VM died).
const (
	Pass       Outcome = "pass"
	Fail       Outcome = "fail"
	Skip       Outcome = "skip"
	Unfinished Outcome = "unfinished"
)

// TestResult is one test (or subtest) of one package.
type TestResult struct {
	Package string
	Test    string
	Outcome Outcome
	Output  string // the test's own output, without go test's === and --- lines
	Elapsed float64
}

// Reason is the test's last line of output with the "file.go:NN: " prefix removed: the
// t.Skip or t.Fatal message.
func (r TestResult) Reason() string {
	lines := strings.Split(strings.TrimSpace(r.Output), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	return fileLine.ReplaceAllString(last, "")
}

var fileLine = regexp.MustCompile(`^[\w.-]+\.go:\d+: `)

// Test2JSON converts the output of a test binary run with -test.v=test2json into go test's
// JSON event stream, using the go toolchain's own converter.
func Test2JSON(ctx context.Context, goTool, pkg string, output []byte) ([]byte, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, goTool, "tool", "test2json", "-p", pkg)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(output), &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("test2json %s: %w: %s", pkg, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// ParseEvents reads a go test JSON event stream and returns one result per test, in the
// order the tests started. A test that never reported an outcome is Unfinished.
func ParseEvents(r io.Reader) ([]TestResult, error) {
	var order []string
	byName := map[string]*TestResult{}
	dec := json.NewDecoder(r)
	for {
		var e event
		err := dec.Decode(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("decode test event: %w", err)
		}
		if e.Test == "" {
			continue
		}
		res := byName[e.Test]
		if res == nil {
			res = &TestResult{Package: e.Package, Test: e.Test, Outcome: Unfinished}
			byName[e.Test] = res
			order = append(order, e.Test)
		}
		switch e.Action {
		case "output":
			if !isFraming(e.Output) {
				res.Output += e.Output
			}
		case "pass", "fail", "skip":
			res.Outcome = Outcome(e.Action)
			res.Elapsed = e.Elapsed
		}
	}
	out := make([]TestResult, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	return out, nil
}

// isFraming reports go test's own status lines (=== RUN, --- PASS: …), which say nothing
// the outcome does not.
func isFraming(line string) bool {
	t := strings.TrimSpace(line)
	return strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ")
}

package cli

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeCommandTable: the README's command table lists every command nettune has, and
// every flag it shows exists on its command.
func TestReadmeCommandTable(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmdRE := regexp.MustCompile("`nettune ([^`]*)`")
	listed := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		// A row's first cell: | `nettune apply --plan plan.json` | or | `nettune version`, `nettune --version` |
		// (a | inside a command is escaped, \|, without spaces around it).
		if !strings.HasPrefix(line, "| `nettune") {
			continue
		}
		cell, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " | ")
		for _, c := range cmdRE.FindAllStringSubmatch(cell, -1) {
			words := strings.Fields(c[1])
			if strings.HasPrefix(words[0], "-") {
				continue // nettune --version
			}
			listed[words[0]] = true
			var args []string
			for _, w := range words {
				w = strings.Trim(w, "[]")
				if w == words[0] || strings.HasPrefix(w, "-") {
					args = append(args, w)
				}
			}
			for _, e := range commandErrors(args) {
				t.Errorf("README: %s", e)
			}
		}
	}
	root := newRoot(Streams{Out: io.Discard, Err: io.Discard})
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() && c.Name() != "help" && !listed[c.Name()] {
			t.Errorf("README's command table does not list nettune %s", c.Name())
		}
	}
	if len(listed) < 5 {
		t.Errorf("found only %d commands in the README's table: %v", len(listed), listed)
	}
}

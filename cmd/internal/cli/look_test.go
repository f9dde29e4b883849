package cli

import (
	"bytes"
	"testing"

	"github.com/nettune/nettune/render"
)

// Piped output has no width and no colour unless --color=always asks for it; NO_COLOR never
// overrides an explicit --color=always.
func TestLookWhenPiped(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	var b bytes.Buffer
	for _, tc := range []struct {
		color colorValue
		want  render.Look
	}{
		{"auto", render.Look{}},
		{"never", render.Look{}},
		{"always", render.Look{Color: true}},
	} {
		c := &common{color: tc.color}
		if got := c.look(&b, false); got != tc.want {
			t.Errorf("--color=%s piped: %+v, want %+v", tc.color, got, tc.want)
		}
	}
	if got := (&common{color: "auto"}).look(&b, true); !got.All {
		t.Error("--all lost")
	}
	var v colorValue
	if err := v.Set("sometimes"); err == nil {
		t.Error("--color=sometimes accepted")
	}
}

package cli

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/nettune/nettune/render"
)

// Flags whose values are checked while pflag parses them: a bad value is a flag error, so
// exit 2 in one line before the command runs. pflag's message already names the flag and the
// value ("invalid argument "xml" for "-o, --output" flag: "), so Set says only what is wrong.

// Output formats by command: one vocabulary (render.Format), table and json everywhere,
// prometheus where a report has metrics, html where a report is shared.
var (
	adviseFormats = []render.Format{render.FormatTable, render.FormatJSON, render.FormatPrometheus, render.FormatHTML}
	otherFormats  = []render.Format{render.FormatTable, render.FormatJSON}
)

// formatValue is -o: one of the command's formats, parsed by render.ParseFormat.
type formatValue struct {
	p       *render.Format
	allowed []render.Format
}

func (v *formatValue) String() string { return string(*v.p) }
func (v *formatValue) Type() string   { return "format" }
func (v *formatValue) Set(s string) error {
	f, err := render.ParseFormat(s, v.allowed...)
	if err != nil {
		return errors.New("not one of " + render.Join(v.allowed))
	}
	*v.p = f
	return nil
}

// outputFlag defines -o with the formats allowed, the first being the default.
func outputFlag(fs *pflag.FlagSet, p *render.Format, allowed []render.Format) {
	*p = allowed[0]
	fs.VarP(&formatValue{p: p, allowed: allowed}, "output", "o", "output format: "+render.Join(allowed))
}

// countValue is an integer flag with a least value.
type countValue struct {
	p   *int
	min int
}

func (c *countValue) String() string { return strconv.Itoa(*c.p) }
func (c *countValue) Type() string   { return "int" }
func (c *countValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not a whole number")
	}
	if n < c.min {
		return fmt.Errorf("must be at least %d", c.min)
	}
	*c.p = n
	return nil
}

// countFlag defines an integer flag that must be at least min.
func countFlag(fs *pflag.FlagSet, p *int, name string, def, min int, usage string) {
	*p = def
	fs.Var(&countValue{p: p, min: min}, name, usage)
}

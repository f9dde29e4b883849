package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/nettune/nettune/render"
)

// Output formats by command: one vocabulary, table and json everywhere, prometheus where a
// report has metrics.
var (
	adviseFormats = []render.Format{render.FormatTable, render.FormatJSON, render.FormatPrometheus}
	otherFormats  = []render.Format{render.FormatTable, render.FormatJSON}
)

// formatFlag is -o: a value outside the command's formats is refused while the flags are
// parsed, as a usage error (exit 2) in one line.
type formatFlag struct {
	f       render.Format
	allowed []render.Format
}

func (o *formatFlag) String() string { return string(o.f) }
func (o *formatFlag) Type() string   { return "format" }

// Set is called by pflag, whose error already names the flag and the value.
func (o *formatFlag) Set(s string) error {
	f, err := render.ParseFormat(s, o.allowed...)
	if err != nil {
		return errors.New("not one of " + render.Join(o.allowed))
	}
	o.f = f
	return nil
}

// addOutput adds -o with the formats allowed, the first being the default.
func addOutput(cmd *cobra.Command, allowed []render.Format) *formatFlag {
	o := &formatFlag{f: allowed[0], allowed: allowed}
	cmd.Flags().VarP(o, "output", "o", "output format: "+render.Join(allowed))
	return o
}

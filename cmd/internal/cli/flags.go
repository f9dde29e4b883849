package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// enumValue is a string flag that takes only the listed values: anything else is a flag error,
// so exit 2 before the command runs.
type enumValue struct {
	p       *string
	allowed []string
}

func (e *enumValue) String() string { return *e.p }
func (e *enumValue) Type() string   { return "string" }
func (e *enumValue) Set(s string) error {
	if !slices.Contains(e.allowed, s) {
		return fmt.Errorf("%q is not one of %s", s, strings.Join(e.allowed, ", "))
	}
	*e.p = s
	return nil
}

// enumFlag defines a flag (with a shorthand, "" for none) whose value must be one of allowed;
// the first is the default.
func enumFlag(fs *pflag.FlagSet, p *string, name, short string, allowed []string, usage string) {
	*p = allowed[0]
	fs.VarP(&enumValue{p: p, allowed: allowed}, name, short, usage+" ("+strings.Join(allowed, ", ")+")")
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
		return fmt.Errorf("%q is not a whole number", s)
	}
	if n < c.min {
		return fmt.Errorf("%d is less than %d", n, c.min)
	}
	*c.p = n
	return nil
}

// countFlag defines an integer flag that must be at least min.
func countFlag(fs *pflag.FlagSet, p *int, name string, def, min int, usage string) {
	*p = def
	fs.Var(&countValue{p: p, min: min}, name, usage)
}

package render

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Format is an output format, the value of every command's -o.
type Format string

const (
	FormatTable      Format = "table"      // for people
	FormatJSON       Format = "json"       // for programs (docs/schema.md)
	FormatPrometheus Format = "prometheus" // text exposition format (advise only)
)

// ParseFormat returns the format named s if it is one of allowed.
func ParseFormat(s string, allowed ...Format) (Format, error) {
	for _, f := range allowed {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("output: %q is not one of %s", s, Join(allowed))
}

// Join lists formats for messages and help texts: "table, json".
func Join(fs []Format) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// errFormat is returned for a format a writer does not have; the commands parse -o with
// ParseFormat first, so it means a caller's mistake.
func errFormat(what string, f Format) error {
	return fmt.Errorf("render %s: no %q output", what, f)
}

// writeJSON writes v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Package render writes everything nettune prints: advise's report as a table for people,
// JSON for programs and the Prometheus text format; the results of apply, apply --auto,
// rollback and status; the frames of drops; and check's kernel features. Every command's
// -o takes a Format.
package render

import (
	"io"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// Schema names the JSON document version (docs/schema.md). Fields may be added; none is
// renamed or removed without a new version.
const Schema = "nettune.advise/v2"

// document is advise's JSON: how the report was made, then the report. Each field has one
// name: two embedded structs with the same JSON name at the same depth would both be
// dropped by encoding/json.
type document struct {
	Schema      string              `json:"schema"`
	Host        string              `json:"host"`
	Kernel      string              `json:"kernel,omitempty"`
	Mode        string              `json:"mode"` // "counters" or "counters+bpf"
	XDPMode     string              `json:"xdp_mode,omitempty"`
	BPFNote     string              `json:"bpf_note,omitempty"`
	Foreign     []model.ForeignProg `json:"foreign_programs,omitempty"`
	Coverage    *model.Coverage     `json:"bpf_coverage,omitempty"`    // pipeline.Meta.Coverage
	Attribution *float64            `json:"bpf_attribution,omitempty"` // policy.Report.Attribution
	*policy.Report
}

// Advise writes one advise result in format f.
func Advise(w io.Writer, f Format, res *pipeline.Result) error {
	switch f {
	case FormatTable:
		return Table(w, res)
	case FormatJSON:
		return JSON(w, res)
	case FormatPrometheus:
		return Prometheus(w, res)
	case FormatHTML:
		return HTML(w, res)
	}
	return errFormat("advise", f)
}

// JSON writes one advise document.
func JSON(w io.Writer, res *pipeline.Result) error {
	m, r := res.Meta, res.Report
	return writeJSON(w, document{Schema: Schema, Host: m.Host, Kernel: m.Kernel, Mode: m.Mode, XDPMode: m.XDPMode,
		BPFNote: uniqueNote(m.BPFNote), Foreign: m.Foreign, Coverage: m.Coverage, Attribution: r.Attribution, Report: nonNil(r)})
}

// nonNil makes empty lists encode as [] so consumers never see null where the schema says array.
func nonNil(r *policy.Report) *policy.Report {
	c := *r
	if c.Findings == nil {
		c.Findings = []policy.Finding{}
	}
	if c.Plan == nil {
		c.Plan = []policy.Action{}
	}
	if c.Funnel == nil {
		c.Funnel = []policy.Funnel{}
	}
	return &c
}

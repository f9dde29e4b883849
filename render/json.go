// Package render writes advise results as a table for people, JSON for programs and the
// Prometheus text format for node_exporter's textfile collector.
package render

import (
	"encoding/json"
	"io"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

// Schema names the JSON document version (docs/schema.md). Fields may be added; none is
// renamed or removed without a new version.
const Schema = "nettune.advise/v1"

// Meta is what the report says about how it was made.
type Meta struct {
	Host        string              `json:"host"`
	Kernel      string              `json:"kernel,omitempty"`
	Netns       string              `json:"netns,omitempty"`
	Mode        string              `json:"mode"` // "counters" or "counters+bpf"
	XDPMode     string              `json:"xdp_mode,omitempty"`
	BPFNote     string              `json:"bpf_note,omitempty"`
	Foreign     []model.ForeignProg `json:"foreign_programs,omitempty"`
	Coverage    *model.Coverage     `json:"bpf_coverage,omitempty"`    // model.InPath.Coverage
	Attribution *float64            `json:"bpf_attribution,omitempty"` // policy.Report.Attribution
}

type document struct {
	Schema string `json:"schema"`
	Meta
	*policy.Report
}

// JSON writes one advise document.
func JSON(w io.Writer, m Meta, r *policy.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(document{Schema: Schema, Meta: m, Report: nonNil(r)})
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

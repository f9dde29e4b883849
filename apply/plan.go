package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/knob/live"
	"github.com/nettune/nettune/policy"
)

// ErrPlan is a plan file nettune refuses as a whole (apply --plan): not an advise JSON
// document of this schema, made on another host, too large, or naming a knob nettune does not
// know. Nothing is changed (exit 2).
var ErrPlan = errors.New("invalid plan")

// The schemas of the advise JSON documents a plan is read from: that of one namespace
// (render.Schema, advise --netns) and that of every namespace of a node (render.NodeSchema).
const (
	AdviseSchema = "nettune.advise/v2"
	NodeSchema   = "nettune.advise/v3"
)

// Plan is a reviewed plan read from an advise document (ReadPlan): the actions of one
// namespace (Schema AdviseSchema, for ApplyReviewed) or the plan of each namespace of a node
// (Schema NodeSchema, for ApplyReviewedNode).
type Plan struct {
	Schema     string
	Actions    []policy.Action // AdviseSchema
	Namespaces []NamespacePlan // NodeSchema, in the document's order
}

// All is every action of the plan, for what describes it as a whole.
func (p *Plan) All() []policy.Action {
	all := p.Actions
	for _, ns := range p.Namespaces {
		all = append(all, ns.Actions...)
	}
	return all
}

// Bounds of a plan file. advise's JSON of a host with 1 000 interfaces, funnel included, is a
// few megabytes; its plan has a step per knob, a few dozen at most.
const (
	MaxPlanBytes   = 32 << 20
	MaxPlanActions = 1024
)

// ReadPlan reads the plan of an advise JSON document (`nettune advise -o json`), for
// ApplyReviewed (AdviseSchema) or ApplyReviewedNode (NodeSchema). The file is outside input
// and is read strictly: one JSON object of at most MaxPlanBytes, no duplicate keys at its top
// level or in an action, schema AdviseSchema or NodeSchema, made on this host (its "host" is
// this host's name), and plans of at most MaxPlanActions actions with only the fields advise
// writes, each naming a knob of the knob table with its table scope and a valid namespace
// (parseNodePlan says what a node document must also hold). The other fields of the report
// are not read. Values are checked by ApplyReviewed, per action: one nettune cannot write is
// refused, not the file.
func (a *Applier) ReadPlan(r io.Reader) (*Plan, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxPlanBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	host, err := os.ReadFile(filepath.Join(a.o.Env.ProcRoot, "sys", "kernel", "hostname"))
	if err != nil {
		return nil, fmt.Errorf("%w: this host's name, to check the plan was made here: %w", ErrPlan, err)
	}
	return parsePlan(b, strings.TrimSpace(string(host)))
}

func badPlan(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrPlan, fmt.Sprintf(format, a...))
}

func parsePlan(b []byte, host string) (*Plan, error) {
	bad := badPlan
	if len(b) > MaxPlanBytes {
		return nil, bad("larger than %d MiB: not an advise document", MaxPlanBytes>>20)
	}
	top, err := fields(b)
	if err != nil {
		return nil, bad("%v (write it with nettune advise -o json)", err)
	}
	var schema, madeOn string
	for _, f := range []struct {
		name string
		v    *string
	}{{"schema", &schema}, {"host", &madeOn}} {
		raw, ok := top[f.name]
		if !ok {
			return nil, bad("no %q: not an advise document (nettune advise -o json)", f.name)
		}
		if err := json.Unmarshal(raw, f.v); err != nil {
			return nil, bad("%s: %v", f.name, err)
		}
	}
	switch {
	case schema != AdviseSchema && schema != NodeSchema:
		return nil, bad("schema %q: this nettune reads %s and %s", schema, AdviseSchema, NodeSchema)
	case host == "" || madeOn != host:
		return nil, bad("made on host %q, this is %q: a plan applies only where it was measured", madeOn, host)
	}
	if schema == NodeSchema {
		return parseNodePlan(b, top)
	}
	raw, ok := top["plan"]
	if !ok {
		return nil, bad(`no "plan"`)
	}
	plan, err := planActions(raw)
	if err != nil {
		return nil, bad("%v", err)
	}
	return &Plan{Schema: schema, Actions: plan}, nil
}

// planActions reads a "plan" array: at most MaxPlanActions actions, each read by planAction.
func planActions(raw json.RawMessage) ([]policy.Action, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if len(items) > MaxPlanActions {
		return nil, fmt.Errorf("%d actions, more than %d", len(items), MaxPlanActions)
	}
	plan := make([]policy.Action, 0, len(items))
	for i, item := range items {
		act, err := planAction(item)
		if err != nil {
			return nil, fmt.Errorf("plan action %d: %w", i+1, err)
		}
		plan = append(plan, act)
	}
	return plan, nil
}

// planAction decodes one action strictly and checks its knob against the table.
func planAction(b []byte) (policy.Action, error) {
	var act policy.Action
	if _, err := fields(b); err != nil {
		return act, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&act); err != nil {
		return act, err
	}
	id, err := knob.Parse(act.Knob)
	if err != nil {
		return act, err
	}
	row, ok := knob.Lookup(id)
	switch {
	case !ok:
		return act, fmt.Errorf("%w: %s", knob.ErrUnknown, act.Knob)
	case act.Scope != row.Scope:
		return act, fmt.Errorf("%s: scope %q, the knob's is %q", act.Knob, act.Scope, row.Scope)
	case act.Disruptive != row.Disruptive:
		return act, fmt.Errorf("%s: disruptive %v, the knob's is %v", act.Knob, act.Disruptive, row.Disruptive)
	}
	if err := validNetns(act.Netns); err != nil {
		return act, err
	}
	for _, s := range append([]string{act.Current, act.Proposed, act.Why, act.Command, act.Risk}, act.Findings...) {
		if len(s) > 4096 {
			return act, fmt.Errorf("%s: a field longer than 4096 bytes", act.Knob)
		}
	}
	return act, nil
}

// fields reads one JSON object and its members, refusing duplicate keys (which encoding/json
// would resolve silently, the last one winning) and anything after the object.
func fields(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("key %q twice", key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return out, nil
}

// checkReviewed refuses a step of a reviewed plan whose knob no longer holds the value the plan
// was made on, or whose values are not ones the knob can hold; "" when it may go on.
func checkReviewed(st *Step, k live.Knob, cur string) string {
	id, err := knob.Parse(k.ID())
	if err != nil {
		return err.Error()
	}
	if err := knob.Validate(id, st.seen); err != nil {
		return fmt.Sprintf("not applied: the plan's current value %q is not one of this knob: %v", st.seen, err)
	}
	if err := knob.Validate(id, st.Proposed); err != nil {
		return fmt.Sprintf("not applied: the plan's proposed value is not one of this knob: %v", err)
	}
	if k.Compare(cur, st.seen) != live.Equal {
		return fmt.Sprintf("not applied: changed since the plan was made (the plan saw %s, it is %s now): review a new plan (nettune advise -o json)", st.seen, cur)
	}
	return ""
}

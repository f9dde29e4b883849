package policy

import (
	"fmt"
	"strings"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model/stage"
)

// A rule reads the input and returns what it saw. Rules are independent: none reads another's
// output, and their order does not matter (TestRulesAreIndependent). Every decision that
// involves two rules is reconcile's (reconcile.go).
type rule func(*input) output

// output is what one rule saw.
type output struct {
	obs []obs
	// offers are knobs and evidence for loss at places the rule does not observe itself
	// (distribution answers ring, FIFO and backlog loss).
	offers []offer
	// ruleset is the firewall's account of where a DROP could happen, for netfilter drops
	// that no rule counter shows.
	ruleset *rulesetView
	advice  []string // unconditional: foreign programs, say
	missing []string // evidence the rule could not read
}

// place is where a population of drops is: the stage and where on it — interface, CPU,
// the netns or the host — and the part of the stage when it has parts that lose different
// packets (a netfilter hook, the conntrack table, a group of qdiscs, a protocol). One place
// over one interval is one finding; its ID says the place.
type place struct {
	stage    stage.Stage
	iface    string
	hostWide bool // softnet: host-wide even when analysing a child netns
	sub      string
	cpu      *int
}

func (in *input) id(p place) string {
	var b strings.Builder
	b.WriteString(string(p.stage))
	b.WriteByte('/')
	b.WriteString(in.scopeName(p.hostWide))
	if p.iface != "" {
		b.WriteString("/" + p.iface)
	}
	if p.sub != "" {
		b.WriteString("/" + p.sub)
	}
	if p.cpu != nil {
		fmt.Fprintf(&b, "/cpu%d", *p.cpu)
	}
	return b.String()
}

// source ranks how much an observation knows about why its packets were lost: reconcile takes
// a population's class from the observation that knows most (docs/rules.md §8.6).
type source int

const (
	// sourceReason: a kfree_skb drop reason, whose class is a default for its name.
	sourceReason source = iota + 1
	// sourceCounter: a counter of the stage's own drops.
	sourceCounter
	// sourceConfig: the stage's counters read together with its configuration (a shaper's
	// rate, a qdisc's kind and limit, the conntrack table's fill, the firewall's rules).
	sourceConfig
)

// obs is one rule's observation of a population of drops (or of pressure events). Rules
// return before building one whose drops are zero: apply --auto analyses hosts with a
// thousand quiet links, and summaries and evidence for them were most of its cost.
type obs struct {
	place
	class  stage.Class // "" = capacity
	source source
	drops  uint64 // packets lost, or events when pressure is set
	base   base
	// pressure: events that are not loss by themselves, info at most (docs/rules.md §3.4).
	pressure bool
	// covers: the counters behind drops see every drop at this place, so drop reasons
	// beyond them are the same drops read a moment apart, not drops of another place.
	covers bool
	queue  *int // the queue all drops came from, when one did

	summary  string
	evidence []Evidence
	reasons  []DropReason
	hook     stage.Hook
	rules    []FirewallRule
	sockets  sockets // the sockets that dropped, for socket-level stages

	// viewOf: these drops are how the sender sees drops at those places (a UDP send's
	// ENOBUFS is a qdisc drop, or a neighbour entry the full table refused): reconcile joins
	// them there when those account for them. A place without a part is any of the stage's.
	viewOf []place
	// budget: squeezes become capacity loss, with the budget knobs, when ring or FIFO loss
	// is served by this CPU (reconcile decides).
	budget *budgetEscalation

	proposals []proposal
	advice    []advice
}

// advice is a line the report gets when the observation becomes a finding; onlyActionable
// lines only when that finding earns plan actions.
type advice struct {
	text           string
	onlyActionable bool
}

func always(s string) advice    { return advice{text: s} }
func ifActing(s string) advice  { return advice{text: s, onlyActionable: true} }
func (o *obs) say(a ...advice)  { o.advice = append(o.advice, a...) }
func (o *obs) offer(p proposal) { o.proposals = append(o.proposals, p) }

// proposal is a knob a rule proposes for its finding. A sysctl step is resolved by the
// planner from the sysctl's current value; any other knob comes with the values the rule
// computed. The knob table supplies the rest (plan.go).
type proposal struct {
	sysctl *sysctlStep
	id     knob.ID
	action Action // Current, Proposed, AtCap, MemoryBytes, Risk, Why
	site   knob.Site
}

// sysctlStep is one sysctl proposal: what the rule knows (the memory a change can pin, the
// risk, why). The knob table knows the rest: scope, cap, which field is raised, plan phase,
// settle time.
type sysctlStep struct {
	key string
	// mem estimates the memory the change can pin, from current and proposed (the raised field).
	mem       func(cur, next int64) int64
	risk, why string
	// atLeast is the smallest value the rule's evidence needs (a pool above its limit, a
	// table holding more entries than its threshold): the step goes at least that far, within
	// the cap. 0: one step.
	atLeast int64
}

func sysctlProposal(s sysctlStep) proposal { return proposal{sysctl: &s} }

func knobProposal(id knob.ID, a Action, site knob.Site) proposal {
	return proposal{id: id, action: a, site: site}
}

// budgetEscalation is what a squeezed CPU becomes when it serves ring or FIFO loss.
type budgetEscalation struct {
	cpu       int
	proposals []proposal
}

// offer is what a rule knows about loss it does not observe: knobs and evidence for the
// actionable findings at stages of one link (or the host-wide backlog and budget).
type offer struct {
	iface      string        // the link whose findings at stages it answers
	stages     []stage.Stage // device stages of iface it answers
	hostStages []stage.Stage // host-wide stages it answers too
	evidence   []Evidence
	proposals  []proposal
	advice     []string
	missing    []string
}

// rulesetView is the firewall as far as it explains drops no rule counter shows: the places
// a packet can be dropped (DROP rules without a counter, chains whose policy drops), by hook.
type rulesetView struct {
	candidates []FirewallRule
	unreadable string // why the ruleset could not be read
	v4, v6     bool   // families its DROP places apply to
}

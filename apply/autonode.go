package apply

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// NodeAnalysis turns the interval between two node samples into one result per namespace
// (pipeline.Node.Analyze).
type NodeAnalysis func(prev, cur *collect.NodeSample) (*pipeline.NodeResult, error)

// AutoNode is Auto over every namespace of a node: one baseline per namespace, the findings
// of every namespace counted for persistence, earlier changes judged and reverted wherever
// they were made, and the plans of the lossy namespaces acted on under the same bounds as
// Auto (hysteresis, cooldown, one step per knob per run, caps), each namespace's change
// written through a handle on the namespace that was measured.
func (a *Applier) AutoNode(cur *collect.NodeSample, analyze NodeAnalysis) (*AutoResult, error) {
	dir, release, err := a.begin()
	if err != nil {
		return nil, err
	}
	defer release()
	var irqbalance *bool
	for i := range cur.Namespaces {
		if cur.Namespaces[i].Own {
			irqbalance = &cur.Namespaces[i].Sample.IRQBalance
		}
	}
	r := &run{a: a}
	if err := r.open(dir, irqbalance); err != nil {
		return nil, err
	}
	defer r.close()
	res := &AutoResult{Time: a.o.Now(), Actions: []AutoAction{}}
	prev, err := loadNodeSample(dir, cur)
	if err != nil {
		return nil, err
	}
	st, err := loadAutoState(dir)
	if err != nil {
		return nil, err
	}
	if prev == nil {
		res.Baseline = "first run: samples of every namespace saved, acting from the next run"
		return res, saveNodeSample(dir, cur)
	}
	nr, err := analyze(prev, cur)
	if errors.Is(err, model.ErrOrder) {
		res.Baseline = "samples not newer than the saved ones: baseline reset"
		return res, saveNodeSample(dir, cur)
	}
	if err != nil {
		return nil, err
	}
	// One report of the node: every namespace's findings (their IDs name the namespace),
	// and the plans of the lossy ones with the namespace each action is written in.
	rep := &policy.Report{}
	var d *model.Delta
	for _, ns := range nr.Namespaces {
		rep.Findings = append(rep.Findings, ns.Report.Findings...)
		if d == nil || ns.Own {
			d = ns.Delta
		}
	}
	np := a.nodePlan(nr)
	defer np.close()
	rep.Plan = np.plan
	res.Findings = len(rep.Findings)
	st.countStreaks(rep)
	var runErr error
	if d != nil {
		runErr = r.judge(st, rep, d, res)
	}
	if runErr == nil {
		runErr = r.act(st, rep, np.targets, cur.Time, res)
	}
	for _, s := range np.gone {
		res.addStep(string(s.Decision), s)
	}
	if r.seq > 0 {
		res.ID = r.id
	}
	res.Persist, runErr = r.persist(runErr)
	if err := saveAutoState(dir, st); err != nil {
		return res, errors.Join(runErr, err)
	}
	return res, errors.Join(runErr, saveNodeSample(dir, cur))
}

// nodeBaselineMagic starts the node baseline file; its last byte is the format version.
const nodeBaselineMagic = "NTN\x01"

// appendNodeBaseline encodes what the next run diffs against: per namespace its inode, the
// name or path it is known by (a later namespace given the same inode is known by another),
// whether it is nettune's own, and its sample's baseline (model.AppendBaseline).
func appendNodeBaseline(b []byte, s *collect.NodeSample) []byte {
	b = append(b, nodeBaselineMagic...)
	b = binary.AppendUvarint(b, uint64(len(s.Namespaces)))
	for i := range s.Namespaces {
		ns := &s.Namespaces[i]
		b = binary.AppendUvarint(b, ns.Namespace.ID.Ino)
		ref := netnsRef(&ns.Namespace)
		b = binary.AppendUvarint(b, uint64(len(ref)))
		b = append(b, ref...)
		own := byte(0)
		if ns.Own {
			own = 1
		}
		b = append(b, own)
		sb := ns.Sample.AppendBaseline(nil)
		b = binary.AppendUvarint(b, uint64(len(sb)))
		b = append(b, sb...)
	}
	return b
}

// errNodeBaseline is a node baseline that does not parse.
var errNodeBaseline = errors.New("not a nettune node baseline")

// nodeBaseline is one namespace's saved sample.
type nodeBaseline struct {
	ino    uint64
	ref    string
	own    bool
	sample *model.Sample
}

// parseNodeBaseline reads appendNodeBaseline's bytes; anything else is errNodeBaseline.
func parseNodeBaseline(b []byte) ([]nodeBaseline, error) {
	if len(b) < len(nodeBaselineMagic) || string(b[:len(nodeBaselineMagic)]) != nodeBaselineMagic {
		return nil, errNodeBaseline
	}
	b = b[len(nodeBaselineMagic):]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	bytesOf := func() ([]byte, bool) {
		n, ok := next()
		if !ok || n > uint64(len(b)) {
			return nil, false
		}
		v := b[:n]
		b = b[n:]
		return v, true
	}
	count, ok := next()
	if !ok || count > uint64(len(b)) { // every namespace takes more than a byte
		return nil, errNodeBaseline
	}
	out := make([]nodeBaseline, 0, count)
	for range count {
		var e nodeBaseline
		var ref, sb []byte
		if e.ino, ok = next(); !ok {
			return nil, errNodeBaseline
		}
		if ref, ok = bytesOf(); !ok || len(b) == 0 || b[0] > 1 {
			return nil, errNodeBaseline
		}
		e.ref, e.own, b = string(ref), b[0] == 1, b[1:]
		if sb, ok = bytesOf(); !ok {
			return nil, errNodeBaseline
		}
		s, err := model.ParseBaseline(sb)
		if err != nil {
			return nil, fmt.Errorf("%w: netns %d: %w", errNodeBaseline, e.ino, err)
		}
		e.sample = s
		out = append(out, e)
	}
	if len(b) != 0 {
		return nil, errNodeBaseline
	}
	return out, nil
}

// baselineNodeFile keeps the node's samples between runs of apply --auto over every namespace.
const baselineNodeFile = "baseline-node.bin"

// loadNodeSample reads the previous run's samples as a node sample holding only the
// namespaces that are still the same: the inode and the name or path it was known by (a new
// namespace given a gone one's inode starts with a baseline of its own). nil when there is
// none or it does not parse: that costs one baseline run.
func loadNodeSample(d *fsx.Dir, cur *collect.NodeSample) (*collect.NodeSample, error) {
	b, err := d.ReadFile(baselineNodeFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("previous samples: %w", err)
	}
	saved, err := parseNodeBaseline(b)
	if err != nil || len(saved) == 0 {
		return nil, nil
	}
	prev := &collect.NodeSample{Time: saved[0].sample.Time}
	for _, e := range saved {
		c, ok := cur.Lookup(e.ino)
		if !ok || c.Own != e.own || (!c.Own && netnsRef(&c.Namespace) != e.ref) {
			continue
		}
		prev.Namespaces = append(prev.Namespaces, collect.NamespaceSample{Namespace: c.Namespace, Own: c.Own, Sample: e.sample})
		if e.sample.Time.Before(prev.Time) {
			prev.Time = e.sample.Time
		}
	}
	return prev, nil
}

// saveNodeSample keeps the node's samples for the next run; not fsynced (saveSample).
func saveNodeSample(d *fsx.Dir, s *collect.NodeSample) error {
	b := appendNodeBaseline(nil, s)
	return d.WriteAtomic(baselineNodeFile, 0o600, false, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

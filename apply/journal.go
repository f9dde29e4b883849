package apply

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/knob/live"
)

// Op is what a journal entry does.
type Op string

const (
	OpSet     Op = "set"     // apply or auto raised a knob
	OpRestore Op = "restore" // rollback put an original back
	OpRevert  Op = "revert"  // auto undid a change that did not help
	// OpGone closes set entries whose namespace no longer exists (rollback found it gone):
	// nothing is written, and nothing is left to restore.
	OpGone Op = "gone"
)

// State is where an entry's change stands. An entry is appended as pending before the write
// and appended again (same apply and seq) as done or failed after it.
type State string

const (
	StatePending State = "pending"
	StateDone    State = "done"
	StateFailed  State = "failed"
)

// Ref names one entry.
type Ref struct {
	Apply string `json:"apply"`
	Seq   int    `json:"seq"`
}

// Entry is one journal line.
type Entry struct {
	Apply string `json:"apply"` // id of the run (apply, rollback or auto)
	Seq   int    `json:"seq"`   // 1-based within the run
	Op    Op     `json:"op"`
	Knob  string `json:"knob"`
	Netns string `json:"netns,omitempty"`
	// NetnsIno identifies the namespace Netns named when nettune wrote (its nsfs inode): a
	// name or /proc/PID path reused by another namespace since is not the one nettune changed.
	NetnsIno uint64 `json:"netns_ino,omitempty"`
	// NetnsOwner is who owned that namespace (version 4): with the inode, it tells the
	// namespace from a later one given the same inode.
	NetnsOwner *NetnsOwner `json:"netns_owner,omitempty"`
	Old        string      `json:"old"`           // read right before the write
	New        string      `json:"new"`           // the value written
	Got        string      `json:"got,omitempty"` // read back after the write
	Reason     string      `json:"reason"`
	Time       time.Time   `json:"time"`
	State      State       `json:"state"`
	Error      string      `json:"error,omitempty"`
	Undoes     []Ref       `json:"undoes,omitempty"` // restore/revert/gone: the set entries it undoes
	// Persist marks a set that must survive a reboot (apply --persist): a sysctl goes to
	// nettune's sysctl.d file, any other knob is re-applied by nettune restore at boot.
	Persist bool `json:"persist,omitempty"`
	// Device identifies, for a persisted device or IRQ knob, what it belonged to when nettune
	// wrote it (deviceID); restore writes it again only to the same device.
	Device string `json:"device,omitempty"`
}

func (e *Entry) ref() Ref { return Ref{e.Apply, e.Seq} }

// journalVersion is written in the header line; journals without a header are the format
// before it (version 1), read as described in docs/apply.md. Version 3 added persist and
// device, version 4 the namespace's owner and the gone op; older journals are read as they
// are (they have none of these) and appended to.
const journalVersion = 4

// header is a journal's first line. The journal is created with it in one atomic rename, so a
// journal whose first line is missing or torn lost its content: it is not an empty history.
type header struct {
	Journal string    `json:"journal"` // always "nettune"
	Version int       `json:"version"`
	Created time.Time `json:"created"`
}

// sumMarker starts the checksum that ends every line: the line is the entry's JSON object
// without its closing brace (the body), then `,"sum":"%08x"}`, the CRC-32C of the body.
const sumMarker = `,"sum":"`

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeLine is v's JSON with its checksum, newline-terminated.
func encodeLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode journal line: %w", err)
	}
	body := b[:len(b)-1] // the object's closing brace
	return fmt.Appendf(body, "%s%08x\"}\n", sumMarker, crc32.Checksum(body, castagnoli)), nil
}

// checkSum verifies a line's checksum; summed is false for a line that has none (version 1).
func checkSum(line []byte) (summed bool, err error) {
	i := bytes.LastIndex(line, []byte(sumMarker))
	if i < 0 {
		return false, nil
	}
	tail := line[i+len(sumMarker):]
	if len(tail) != 10 || tail[8] != '"' || tail[9] != '}' {
		return true, errors.New("malformed checksum")
	}
	want, err := strconv.ParseUint(string(tail[:8]), 16, 32)
	if err != nil {
		return true, errors.New("malformed checksum")
	}
	if crc32.Checksum(line[:i], castagnoli) != uint32(want) {
		return true, errors.New("checksum mismatch")
	}
	return true, nil
}

// The sum field is decoded with the rest (and ignored), so that a line is checked as one
// strict JSON object.
type (
	summedHeader struct {
		header
		Sum string `json:"sum"`
	}
	summedEntry struct {
		Entry
		Sum string `json:"sum,omitempty"`
	}
)

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// parsedJournal is a journal that passed every check.
type parsedJournal struct {
	entries  []Entry
	complete int  // bytes of complete lines; a torn last line (a crash mid-append) follows
	legacy   bool // version 1: no header, and lines without checksums before any with one
}

// parseJournal checks a whole journal and returns its entries in file order. Every line
// must pass its checksum and describe a change nettune could have made (validateRecorded and
// the consistency rules of checkEntry); the first bad line is a *CorruptError.
func parseJournal(data []byte) (*parsedJournal, error) {
	p := &parsedJournal{entries: make([]Entry, 0, bytes.Count(data, []byte{'\n'}))}
	if len(data) == 0 {
		return nil, &CorruptError{Why: "empty: a journal always starts with its header line"}
	}
	seen := map[Ref]int{} // ref → index in p.entries of its first line
	summedSince := false
	for n := 1; len(data) > p.complete; n++ {
		line, _, complete := bytes.Cut(data[p.complete:], []byte{'\n'})
		if !complete {
			if n == 1 {
				return nil, &CorruptError{Line: 1, Why: "torn first line: the journal lost its content"}
			}
			break // torn last line: its fsync never returned, so its change never happened
		}
		bad := func(format string, a ...any) error {
			return &CorruptError{Line: n, Why: fmt.Sprintf(format, a...)}
		}
		summed, err := checkSum(line)
		if err != nil {
			return nil, bad("%v", err)
		}
		switch {
		case n == 1 && summed:
			var h summedHeader
			if err := decodeStrict(line, &h); err != nil || h.Journal != "nettune" {
				return nil, bad("not a nettune journal header")
			}
			if h.Version < 2 || h.Version > journalVersion {
				return nil, fmt.Errorf("%w: version %d (this nettune reads %d)", ErrJournalVersion, h.Version, journalVersion)
			}
			p.complete += len(line) + 1
			summedSince = true
			continue
		case n == 1:
			p.legacy = true
		case summed:
			summedSince = true
		case summedSince:
			return nil, bad("no checksum")
		}
		var e summedEntry
		if err := decodeStrict(line, &e); err != nil {
			return nil, bad("%v", err)
		}
		if err := p.checkEntry(e.Entry, seen); err != nil {
			return nil, bad("%v", err)
		}
		p.complete += len(line) + 1
	}
	return p, nil
}

var applyIDRe = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

// checkEntry checks one entry alone and against the entries before it: the values must be
// ones nettune could have written, a repeated (apply, seq) only moves its state on, a set
// raises its knob, and an undo restores exactly the original of set entries it names.
func (p *parsedJournal) checkEntry(e Entry, seen map[Ref]int) error {
	switch {
	case !applyIDRe.MatchString(e.Apply):
		return fmt.Errorf("apply id %q", e.Apply)
	case e.Seq <= 0:
		return fmt.Errorf("seq %d", e.Seq)
	case e.Op != OpSet && e.Op != OpRestore && e.Op != OpRevert && e.Op != OpGone:
		return fmt.Errorf("op %q", e.Op)
	case e.State != StatePending && e.State != StateDone && e.State != StateFailed:
		return fmt.Errorf("state %q", e.State)
	case e.Time.IsZero():
		return errors.New("no time")
	case e.Netns == "" && e.NetnsIno != 0:
		return errors.New("a namespace inode without a namespace")
	case e.NetnsOwner != nil && e.NetnsIno == 0:
		return errors.New("a namespace owner without a namespace inode")
	case e.Op == OpGone && (e.NetnsIno == 0 || e.State != StateDone):
		return errors.New("gone without a namespace inode, or not done")
	case (e.Persist || e.Device != "") && (e.Op != OpSet || e.Netns != ""):
		return errors.New("persist or device on an entry that is not a set in nettune's own namespace")
	case !validDeviceID(e.Device):
		return fmt.Errorf("device %q", e.Device)
	}
	if err := e.NetnsOwner.validate(); err != nil {
		return err
	}
	// A failed entry's read-back may be anything the kernel returned; it is only compared.
	if e.Got != "" && e.State == StateDone {
		if err := validateRecorded(e.Knob, e.Netns, e.Got); err != nil {
			return err
		}
	}
	if i, ok := seen[e.ref()]; ok {
		first := p.entries[i]
		last := p.latest(e.ref(), i)
		if e.Op != first.Op || e.Knob != first.Knob || e.Netns != first.Netns || e.NetnsIno != first.NetnsIno ||
			e.Old != first.Old || e.New != first.New || !slices.Equal(e.Undoes, first.Undoes) ||
			e.Persist != first.Persist || e.Device != first.Device || !sameOwner(e.NetnsOwner, first.NetnsOwner) {
			return fmt.Errorf("%s seq %d recorded again with other values", e.Apply, e.Seq)
		}
		if last.State != StatePending || e.State == StatePending {
			return fmt.Errorf("%s seq %d goes from %s to %s", e.Apply, e.Seq, last.State, e.State)
		}
		p.entries = append(p.entries, e)
		return nil
	}
	for _, v := range []string{e.Old, e.New} { // a repeated line must repeat them, checked above
		if err := validateRecorded(e.Knob, e.Netns, v); err != nil {
			return err
		}
	}
	k, err := live.Parse(e.Knob, e.Netns, live.Env{})
	if err != nil {
		return err
	}
	if e.Op == OpSet {
		if len(e.Undoes) > 0 {
			return errors.New("a set entry that undoes others")
		}
		order := k.Compare(e.New, e.Old)
		if order == live.Equal || (k.Row().Ordered() && order != live.Greater) {
			return fmt.Errorf("set %s from %q to %q: nettune only raises a knob", e.Knob, e.Old, e.New)
		}
	} else {
		if len(e.Undoes) == 0 {
			return fmt.Errorf("%s without the entries it undoes", e.Op)
		}
		for n, r := range e.Undoes {
			i, ok := seen[r]
			if !ok || p.entries[i].Op != OpSet || p.entries[i].Knob != e.Knob || p.entries[i].Netns != e.Netns ||
				(e.Op == OpGone && p.entries[i].NetnsIno != e.NetnsIno && p.entries[i].NetnsIno != 0) {
				return fmt.Errorf("%s undoes %s seq %d, which is no earlier set of %s", e.Op, r.Apply, r.Seq, e.Knob)
			}
			if n == 0 && k.Compare(e.New, p.entries[i].Old) != live.Equal {
				return fmt.Errorf("%s writes %q, not the original %q it undoes", e.Op, e.New, p.entries[i].Old)
			}
		}
	}
	seen[e.ref()] = len(p.entries)
	p.entries = append(p.entries, e)
	return nil
}

// latest is the last line recorded for ref, whose first line is at index first.
func (p *parsedJournal) latest(ref Ref, first int) Entry {
	for i := len(p.entries) - 1; i > first; i-- {
		if p.entries[i].ref() == ref {
			return p.entries[i]
		}
	}
	return p.entries[first]
}

// badPrefix names journals moved aside: while one exists, nothing runs.
const badPrefix = journalFile + ".bad-"

// movedAside is the first journal an earlier run moved aside, or "".
func movedAside(d *fsx.Dir) (string, error) {
	names, err := d.Names()
	if err != nil {
		return "", fmt.Errorf("list state dir: %w", err)
	}
	slices.Sort(names)
	for _, n := range names {
		if strings.HasPrefix(n, badPrefix) {
			return n, nil
		}
	}
	return "", nil
}

// loadJournal reads and checks the journal of an opened state dir (nil: none yet). It takes
// no lock and changes nothing: a bad journal is reported, and moved aside only by a locked
// run (openJournal).
func loadJournal(d *fsx.Dir) ([]Entry, error) {
	if d == nil {
		return nil, nil
	}
	if bad, err := movedAside(d); err != nil || bad != "" {
		return nil, blocked(d, bad, err)
	}
	data, err := d.ReadFile(journalFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("%w: %w", ErrStateUnreadable, err)
	case err != nil:
		return nil, fmt.Errorf("read journal: %w", err)
	}
	p, err := parseJournal(data)
	if err != nil {
		return nil, withPath(err, d.Join(journalFile))
	}
	return p.entries, nil
}

func blocked(d *fsx.Dir, bad string, err error) error {
	if err != nil {
		return err
	}
	return &CorruptError{Path: d.Join(bad), Why: "moved aside by an earlier run", Exists: true}
}

func withPath(err error, path string) error {
	var ce *CorruptError
	if errors.As(err, &ce) {
		ce.Path = path
	}
	return err
}

// journal appends entries to the journal file; it is only opened under the lock.
type journal struct {
	d       *fsx.Dir
	f       *os.File // nil until the first append creates the journal
	written []Entry  // what this run appended
}

// openJournal reads, checks and opens the journal for appending under the lock. A journal
// that fails a check is moved aside (never truncated or rewritten) and the run refused; a torn
// last line (a crash while writing it) is cut off: its fsync never returned, so the change it
// announced never happened.
func openJournal(d *fsx.Dir) (*journal, []Entry, error) {
	if bad, err := movedAside(d); err != nil || bad != "" {
		return nil, nil, blocked(d, bad, err)
	}
	f, err := d.OpenFile(journalFile, unix.O_RDWR|unix.O_APPEND)
	if errors.Is(err, os.ErrNotExist) {
		return &journal{d: d}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open journal: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	p, err := parseJournal(data)
	var ce *CorruptError
	if errors.As(err, &ce) {
		f.Close()
		return nil, nil, moveAside(d, ce)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if p.complete != len(data) {
		hook("cut", 0)
		if err := f.Truncate(int64(p.complete)); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("cut torn journal line: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("sync journal: %w", err)
		}
	}
	return &journal{d: d, f: f}, p.entries, nil
}

// moveAside renames a bad journal out of the way, so that nothing appends to it and nothing
// reads it as history again; every run then refuses until a person deals with it.
func moveAside(d *fsx.Dir, ce *CorruptError) error {
	ce.Path = d.Join(journalFile)
	var r [3]byte
	_, _ = rand.Read(r[:])
	name := badPrefix + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(r[:])
	hook("move-aside", 0)
	if err := d.Rename(journalFile, name); err != nil {
		return fmt.Errorf("%w (and moving it aside failed: %w)", ce, err)
	}
	ce.Moved = d.Join(name)
	return ce
}

// append writes one line in one write and fsyncs it before returning; the first append of a
// new journal creates it, header first, in one atomic rename.
func (j *journal) append(e Entry) error {
	if j.f == nil {
		if err := j.create(e.Time); err != nil {
			return err
		}
	}
	b, err := encodeLine(e)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	hook("appended "+string(e.State), e.Seq)
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	j.written = append(j.written, e)
	return nil
}

func (j *journal) create(now time.Time) error {
	h, err := encodeLine(header{Journal: "nettune", Version: journalVersion, Created: now.UTC()})
	if err != nil {
		return err
	}
	err = j.d.WriteAtomic(journalFile, 0o600, true, func(w io.Writer) error {
		_, err := w.Write(h)
		return err
	})
	if err != nil {
		return fmt.Errorf("create journal: %w", err)
	}
	hook("created", 0)
	if j.f, err = j.d.OpenFile(journalFile, unix.O_RDWR|unix.O_APPEND); err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	return nil
}

func (j *journal) close() error {
	if j.f == nil {
		return nil
	}
	return j.f.Close()
}

func sameOwner(a, b *NetnsOwner) bool {
	return a == b || (a != nil && b != nil && *a == *b)
}

package apply

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/policy"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func appendRaw(t *testing.T, o Options, s string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(o.StateDir, journalFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// corruptLine changes one byte inside line n (1-based) of the journal and returns the file.
func corruptLine(t *testing.T, o Options, n int) []byte {
	t.Helper()
	path := filepath.Join(o.StateDir, journalFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	i := bytes.Index(lines[n-1], []byte(`"seq":`))
	lines[n-1][i+len(`"seq":`)] ^= 0x01 // 1 → 0, 2 → 3: still JSON, no longer its checksum
	b = bytes.Join(lines, nil)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

// line is one checksummed journal line, as nettune writes them.
func line(t *testing.T, v any) string {
	t.Helper()
	b, err := encodeLine(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func headerLine(t *testing.T) string {
	return line(t, header{Journal: "nettune", Version: journalVersion, Created: t0})
}

func set(knob, netns, old, new string) Entry {
	return Entry{Apply: "20260301T120000Z-0a0b0c", Seq: 1, Op: OpSet, Knob: knob, Netns: netns, Old: old, New: new,
		Got: new, Reason: "test", Time: t0, State: StateDone}
}

func TestJournalRoundTrip(t *testing.T) {
	e := set(somaxconn, "blue", "4096", "8192")
	e.NetnsIno = 4026532000
	r := Entry{Apply: "20260301T130000Z-0d0e0f", Seq: 1, Op: OpRestore, Knob: somaxconn, Netns: "blue",
		Old: "8192", New: "4096", Got: "4096", Reason: "rollback", Time: t0.Add(time.Hour), State: StateDone,
		Undoes: []Ref{{e.Apply, 1}}}
	data := headerLine(t) + line(t, e) + line(t, r)
	p, err := parseJournal([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.entries) != 2 || p.entries[0].NetnsIno != e.NetnsIno || p.entries[1].Undoes[0] != (Ref{e.Apply, 1}) ||
		p.complete != len(data) || p.legacy {
		t.Fatalf("parsed %+v", p)
	}
	// Every line is still a JSON object a person can read with jq.
	if !strings.HasSuffix(strings.Split(data, "\n")[1], `"}`) || !strings.Contains(data, `"sum":"`) {
		t.Fatalf("line format: %s", data)
	}
}

// TestForgedLinesRefused: lines with a correct checksum that nettune would never have
// written are refused and named.
func TestForgedLinesRefused(t *testing.T) {
	restoreOf := func(e Entry, knob, new string) Entry {
		return Entry{Apply: "20260301T130000Z-0d0e0f", Seq: 1, Op: OpRestore, Knob: knob, Old: e.New, New: new,
			Reason: "rollback", Time: t0, State: StateDone, Undoes: []Ref{e.ref()}}
	}
	good := set(somaxconn, "", "4096", "8192")
	again := good
	again.New = "16384"
	for name, tc := range map[string]struct {
		entries []Entry
		why     string
	}{
		"sysctl nettune never changes": {[]Entry{set("sysctl:net.ipv4.ip_forward", "", "1", "2")}, "unknown knob: sysctl:net.ipv4.ip_forward"},
		"unknown sysctl":               {[]Entry{set("sysctl:net.core.nosuch", "", "1", "2")}, "unknown knob"},
		"unknown knob kind":            {[]Entry{set("ethtool-channels:eth0", "", "1", "2")}, "does not change this knob"},
		"original at INT_MAX":          {[]Entry{set(somaxconn, "", "2147483647", "4096")}, "only raises"},
		"beyond the kernel's int":      {[]Entry{set(somaxconn, "", "4096", "2147483648")}, "outside 0..2147483647"},
		"negative original":            {[]Entry{set(somaxconn, "", "-1", "8192")}, "outside 0..2147483647"},
		"too few fields":               {[]Entry{set(tcpRmem, "", "4096 131072", "4096 262144")}, "want 3 field(s)"},
		"too many fields":              {[]Entry{set(somaxconn, "", "4096 1", "8192 1")}, "want 1 field(s)"},
		"not a number":                 {[]Entry{set(somaxconn, "", "4096;reboot", "8192")}, "not an integer"},
		"leading zero":                 {[]Entry{set(somaxconn, "", "04096", "8192")}, "not an integer"},
		"not a CPU mask":               {[]Entry{set("rps:eth0:rx-0", "", "3", "zz")}, "not a cpu mask"},
		"not a CPU list":               {[]Entry{set("irq-affinity:41", "", "0-1", "1-0")}, "not a cpu list"},
		"relative netns path":          {[]Entry{set(somaxconn, "../../proc/1/ns/net", "4096", "8192")}, "clean absolute path"},
		"host-wide knob in a netns":    {[]Entry{set("irq-affinity:41", "blue", "0-1", "1")}, "host-wide"},
		"lowers":                       {[]Entry{set(somaxconn, "", "8192", "4096")}, "only raises"},
		"bad apply id":                 {[]Entry{func() Entry { e := good; e.Apply = "x"; return e }()}, "apply id"},
		"restore of nothing":           {[]Entry{restoreOf(good, somaxconn, "4096")}, "no earlier set"},
		"restore of another knob":      {[]Entry{good, restoreOf(good, backlog, "4096")}, "no earlier set"},
		"restore to another value":     {[]Entry{good, restoreOf(good, somaxconn, "1024")}, "not the original"},
		"same seq, other values":       {[]Entry{func() Entry { e := good; e.State = StatePending; return e }(), again}, "other values"},
		"done twice":                   {[]Entry{good, good}, "from done to done"},
		"persisted in a netns":         {[]Entry{func() Entry { e := set(somaxconn, "blue", "4096", "8192"); e.Persist = true; return e }()}, "nettune's own namespace"},
		"persisted restore":            {[]Entry{good, func() Entry { e := restoreOf(good, somaxconn, "4096"); e.Persist = true; return e }()}, "not a set"},
		"device that is no device":     {[]Entry{func() Entry { e := set(rps0, "", "0", "3"); e.Device = "mac 1\nforged"; return e }()}, "device"},
		"device of another kind":       {[]Entry{func() Entry { e := set(rps0, "", "0", "3"); e.Device = "pci 0000:00:05.0"; return e }()}, "device"},
		"persist changed on repeat": {[]Entry{func() Entry { e := good; e.State = StatePending; return e }(),
			func() Entry { e := good; e.Persist = true; return e }()}, "other values"},
	} {
		t.Run(name, func(t *testing.T) {
			data := headerLine(t)
			for _, e := range tc.entries {
				data += line(t, e)
			}
			_, err := parseJournal([]byte(data))
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorruptJournal) || ce.Line != len(tc.entries)+1 ||
				!strings.Contains(ce.Why, tc.why) {
				t.Fatalf("err = %v, want line %d refused saying %q", err, len(tc.entries)+1, tc.why)
			}
		})
	}
}

func TestCorruptJournals(t *testing.T) {
	e := set(somaxconn, "", "4096", "8192")
	good := headerLine(t) + line(t, e)
	flipped := []byte(good)
	flipped[len(headerLine(t))+10] ^= 0x20
	for name, tc := range map[string]struct {
		data string
		line int
		why  string
	}{
		"emptied":                     {"", 0, "empty"},
		"torn inside the first line":  {good[:20], 1, "torn first line"},
		"not nettune's":               {line(t, map[string]string{"journal": "other"}), 1, "not a nettune journal header"},
		"checksum mismatch":           {string(flipped), 2, "checksum mismatch"},
		"malformed checksum":          {strings.Replace(good, `"sum":"`, `"sum":"x`, 1), 1, "malformed checksum"},
		"line without checksum":       {good + `{"apply":"20260301T120000Z-0a0b0c","seq":2}` + "\n", 3, "no checksum"},
		"garbage":                     {good + "garbage\n", 3, ""},
		"unknown field":               {headerLine(t) + line(t, map[string]any{"apply": "x", "evil": 1}), 2, "unknown field"},
		"blank line":                  {good + "\n", 3, ""},
		"trailing data after the obj": {headerLine(t) + strings.Replace(line(t, e), `{`, `{} {`, 1), 2, ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseJournal([]byte(tc.data))
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Line != tc.line || !strings.Contains(ce.Why, tc.why) {
				t.Fatalf("err = %v, want line %d saying %q", err, tc.line, tc.why)
			}
		})
	}
	// Version 2 (before persist and device) is read as it is.
	v2 := line(t, header{Journal: "nettune", Version: 2, Created: t0}) + line(t, e)
	if p, err := parseJournal([]byte(v2)); err != nil || len(p.entries) != 1 {
		t.Fatalf("a version 2 journal: %v", err)
	}
	newer := line(t, header{Journal: "nettune", Version: journalVersion + 1, Created: t0})
	if _, err := parseJournal([]byte(newer)); !errors.Is(err, ErrJournalVersion) || errors.Is(err, ErrCorruptJournal) {
		t.Fatalf("a newer journal: %v; want ErrJournalVersion, not corruption", err)
	}
	// A torn last line is a crash mid-append: the lines before it stand.
	p, err := parseJournal([]byte(good + `{"apply":"2026`))
	if err != nil || len(p.entries) != 1 || p.complete != len(good) {
		t.Fatalf("torn last line: %+v %v", p, err)
	}
}

// TestLegacyJournal: a journal written before checksums (testdata/journal-v1.jsonl, the format
// up to this version) is read with the same checks of every value; lines appended to it carry
// checksums, and after the first of them every line must.
func TestLegacyJournal(t *testing.T) {
	v1, err := os.ReadFile("testdata/journal-v1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseJournal(v1)
	if err != nil || !p.legacy || len(p.entries) != 6 {
		t.Fatalf("v1 journal: %v, %+v", err, p)
	}
	h := buildHistory(p.entries)
	if len(h.live) != 1 {
		t.Fatalf("live changes %v, want tcp_rmem only (somaxconn was rolled back)", h.live)
	}
	next := set(backlog, "", "1000", "2000")
	next.Apply = "20260302T120000Z-0a0b0c"
	withSum := string(v1) + line(t, next)
	if p, err := parseJournal([]byte(withSum)); err != nil || len(p.entries) != 7 {
		t.Fatalf("v1 journal with a checksummed line: %v", err)
	}
	first := strings.SplitAfter(string(v1), "\n")[0]
	if _, err := parseJournal([]byte(withSum + first)); err == nil || !strings.Contains(err.Error(), "no checksum") {
		t.Fatalf("a line without checksum after one with: %v", err)
	}
	// The v1 forgery of the report: any sysctl, any value, no checksum.
	forged := `{"apply":"20260301T120000Z-0a0b0c","seq":9,"op":"set","knob":"sysctl:net.ipv4.ip_forward",` +
		`"old":"1","new":"0","reason":"x","time":"2026-03-01T12:00:00Z","state":"done"}` + "\n"
	if _, err := parseJournal([]byte(forged)); !errors.Is(err, ErrCorruptJournal) {
		t.Fatalf("forged v1 line: %v", err)
	}
}

// TestForgedLineStopsRollback: rollback refuses a journal with one bad line before it writes
// anything, names the line, moves the journal aside, and every later run refuses until a
// person removes it.
func TestForgedLineStopsRollback(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	a := New(o)
	if _, err := a.Apply([]policy.Action{action(somaxconn, "", "8192"), action(backlog, "", "2000")}); err != nil {
		t.Fatal(err)
	}
	forged := set(somaxconn, "", "2147483647", "4096") // "restore" INT_MAX
	forged.Seq = 7
	appendRaw(t, o, line(t, forged))
	before, _ := os.ReadFile(filepath.Join(o.StateDir, journalFile))

	_, err := a.Rollback("")
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Line != 6 || ce.Moved == "" || !strings.Contains(err.Error(), "line 6") {
		t.Fatalf("rollback over a forged line: %v", err)
	}
	if read(t, o, somaxconn, "") != "8192" || read(t, o, backlog, "") != "2000" {
		t.Fatal("rollback wrote a knob from a journal with a forged line")
	}
	if moved, _ := os.ReadFile(ce.Moved); !bytes.Equal(moved, before) {
		t.Fatal("the journal was changed when it was moved aside")
	}
	_, errApply := a.Apply([]policy.Action{action(somaxconn, "", "16384")})
	_, errRollback := a.Rollback("")
	_, errStatus := a.Status()
	_, errDry := a.DryRun([]policy.Action{action(somaxconn, "", "16384")})
	for _, err := range []error{errApply, errRollback, errStatus, errDry} {
		if !errors.As(err, &ce) || !ce.Exists || ce.Path != moved(t, o) {
			t.Errorf("with a journal moved aside: %v; want a refusal naming it", err)
		}
	}
	if read(t, o, somaxconn, "") != "8192" {
		t.Fatal("a run applied over a journal that was moved aside")
	}
	if err := os.Remove(moved(t, o)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Status(); err != nil {
		t.Fatalf("after the person removed it: %v", err)
	}
}

func moved(t *testing.T, o Options) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(o.StateDir, badPrefix+"*"))
	if len(m) != 1 {
		t.Fatalf("journals moved aside: %v", m)
	}
	return m[0]
}

// TestEmptiedJournalIsNotAnEmptyHistory: a journal emptied or cut inside its first line has
// lost the originals; it must not read as "no changes in effect" and let the next apply record
// the raised values as originals.
func TestEmptiedJournalIsNotAnEmptyHistory(t *testing.T) {
	lab.RequireRoot(t)
	for name, cut := range map[string]func([]byte) []byte{
		"emptied":    func([]byte) []byte { return nil },
		"first line": func(b []byte) []byte { return b[:30] },
	} {
		t.Run(name, func(t *testing.T) {
			o := fixture(t)
			a := New(o)
			if _, err := a.Apply([]policy.Action{action(somaxconn, "", "8192")}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(o.StateDir, journalFile)
			b, _ := os.ReadFile(path)
			if err := os.WriteFile(path, cut(b), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := a.Apply([]policy.Action{action(somaxconn, "", "16384")})
			if !errors.Is(err, ErrCorruptJournal) || read(t, o, somaxconn, "") != "8192" {
				t.Fatalf("apply over a %s journal: %v, somaxconn %s", name, err, read(t, o, somaxconn, ""))
			}
		})
	}
}

func FuzzParseJournal(f *testing.F) {
	v1, err := os.ReadFile("testdata/journal-v1.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v1)
	h, _ := encodeLine(header{Journal: "nettune", Version: journalVersion, Created: t0})
	e, _ := encodeLine(set(tcpRmem, "blue", "4096 131072 6291456", "4096 131072 12582912"))
	f.Add(append(h, e...))
	f.Add(append(h, e[:len(e)-5]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseJournal(b)
		if err != nil {
			return
		}
		if p.complete > len(b) || (p.complete < len(b) && bytes.IndexByte(b[p.complete:], '\n') >= 0) {
			t.Fatalf("complete %d of %d bytes", p.complete, len(b))
		}
		// Whatever parses is a history rollback may act on: every value it would write back
		// passes validateRecorded.
		for _, e := range p.entries {
			if err := validateRecorded(e.Knob, e.Netns, e.Old); err != nil {
				t.Fatalf("accepted %+v: %v", e, err)
			}
		}
		buildHistory(p.entries).undoPlan("")
	})
}

// TestDocumentedJournalExample: the journal example of docs/apply.md is a journal nettune
// reads, checksums included.
func TestDocumentedJournalExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/apply.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(doc), "## The journal")
	_, block, _ := strings.Cut(rest, "```json\n")
	block, _, _ = strings.Cut(block, "```")
	block = strings.ReplaceAll(block, "\n ", "") // the entry is wrapped for reading
	p, err := parseJournal([]byte(block))
	if err != nil || len(p.entries) != 1 {
		t.Fatalf("docs/apply.md example: %v\n%s", err, block)
	}
}

// BenchmarkLoadJournal10k is what every locked run and status pays to check a journal of
// 10 000 lines (5 000 changes: years of a busy auto mode) before using it.
func BenchmarkLoadJournal10k(b *testing.B) {
	h, _ := encodeLine(header{Journal: "nettune", Version: journalVersion, Created: t0})
	data := slices.Clone(h)
	for i := range 5000 {
		e := set(tcpRmem, "blue", "4096 131072 "+strconv.Itoa(6291456+i), "4096 131072 "+strconv.Itoa(12582912+i))
		e.Apply = fmt.Sprintf("20260301T%06dZ-0a0b0c", i)
		e.State = StatePending
		p, _ := encodeLine(e)
		e.State = StateDone
		d, _ := encodeLine(e)
		data = append(append(data, p...), d...)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseJournal(data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRollbackOfV1Journal: a change recorded before checksums is rolled back after an upgrade,
// and the lines appended to the old journal carry checksums.
func TestRollbackOfV1Journal(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	v1 := `{"apply":"20260301T120000Z-3fa2c1","seq":1,"op":"set","knob":"sysctl:net.core.somaxconn","old":"4096","new":"8192","got":"8192","reason":"accept queue overflows","time":"2026-03-01T12:00:00.2Z","state":"done"}` + "\n"
	if err := os.WriteFile(filepath.Join(o.StateDir, journalFile), []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(o.Env.ProcRoot, "sys/net/core/somaxconn"), []byte("8192\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := New(o).Rollback(""); err != nil || res.Changed() != 1 || read(t, o, somaxconn, "") != "4096" {
		t.Fatalf("rollback of a v1 journal: %v\n%+v", err, res)
	}
	b, _ := os.ReadFile(filepath.Join(o.StateDir, journalFile))
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(string(b), v1) || !strings.Contains(lines[1], `"sum":"`) || !strings.Contains(lines[2], `"sum":"`) {
		t.Fatalf("journal after the rollback:\n%s", b)
	}
	if st, err := New(o).Status(); err != nil || len(st.Knobs) != 0 {
		t.Fatalf("status: %v %v", st, err)
	}
}

// TestJournalV3: a journal of the version before owners (testdata/journal-v3.jsonl) is read
// as it is; entries appended to it may carry an owner and close a gone namespace's changes.
func TestJournalV3(t *testing.T) {
	v3, err := os.ReadFile("testdata/journal-v3.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseJournal(v3)
	if err != nil || len(p.entries) != 6 {
		t.Fatalf("v3 journal: %v, %+v", err, p)
	}
	if h := buildHistory(p.entries); len(h.live) != 3 {
		t.Fatalf("live changes %v, want 3", h.live)
	}
	gone := Entry{Apply: "20261103T080000Z-0d0e0f", Seq: 1, Op: OpGone, Knob: somaxconn, Netns: "blue", NetnsIno: 4026532871,
		Old: "8192", New: "4096", Reason: "netns blue no longer exists", Time: t0, State: StateDone,
		Undoes: []Ref{{"20261102T090000Z-5e1f20", 1}}}
	owned := set(somaxconn, "web", "4096", "8192")
	owned.Apply, owned.NetnsIno = "20261103T080000Z-0d0e0f", 4026532999
	owned.Seq = 2
	owned.NetnsOwner = &NetnsOwner{Pod: "default/web-0", PodUID: "0b5e4d2a-7c1f-4e3b-9a55-3f7f1c2d9e10",
		Container: strings.Repeat("ab", 32)}
	p, err = parseJournal([]byte(string(v3) + line(t, gone) + line(t, owned)))
	if err != nil || len(p.entries) != 8 {
		t.Fatalf("v3 journal with v4 lines: %v", err)
	}
	if h := buildHistory(p.entries); len(h.live) != 3 || len(h.live[knobKey("blue", somaxconn)]) != 0 {
		t.Fatalf("the gone entry does not close blue's somaxconn: %v", h.live)
	}
	for name, e := range map[string]Entry{
		"gone without an inode": func() Entry { e := gone; e.NetnsIno = 0; e.Netns = ""; return e }(),
		"gone of another inode": func() Entry { e := gone; e.NetnsIno++; return e }(),
		"gone pending":          func() Entry { e := gone; e.State = StatePending; return e }(),
		"owner without inode":   func() Entry { e := owned; e.NetnsIno = 0; return e }(),
		"empty owner":           func() Entry { e := owned; e.NetnsOwner = &NetnsOwner{}; return e }(),
		"pod path":              func() Entry { e := owned; e.NetnsOwner = &NetnsOwner{Pod: "../../etc"}; return e }(),
		"container not hex":     func() Entry { e := owned; e.NetnsOwner = &NetnsOwner{Container: "$(reboot)"}; return e }(),
	} {
		if _, err := parseJournal([]byte(string(v3) + line(t, e))); !errors.Is(err, ErrCorruptJournal) {
			t.Errorf("%s: %v; want a corrupt journal", name, err)
		}
	}
	again := owned
	again.State, again.NetnsOwner = StateDone, &NetnsOwner{Pod: "default/web-1"}
	pending := owned
	pending.State = StatePending
	if _, err := parseJournal([]byte(string(v3) + line(t, pending) + line(t, again))); !errors.Is(err, ErrCorruptJournal) {
		t.Errorf("a repeated line with another owner: %v", err)
	}
}

// TestUndoPlanPerNamespace: the live changes of one knob and name split where the recorded
// inode changes (a name reused by a new namespace); an entry from before inodes were recorded
// goes with the namespace after it.
func TestUndoPlanPerNamespace(t *testing.T) {
	legacy := set(somaxconn, "blue", "128", "256")
	a := set(somaxconn, "blue", "256", "512")
	a.Apply, a.NetnsIno = "20260301T130000Z-0a0b0c", 4026532871
	b := set(somaxconn, "blue", "128", "1024")
	b.Apply, b.NetnsIno = "20260301T140000Z-0a0b0c", 4026532999
	b.NetnsOwner = &NetnsOwner{Pod: "shop/web-0"}
	h := buildHistory([]Entry{legacy, a, b})
	plan := h.undoPlan("")
	if len(plan) != 2 {
		t.Fatalf("undo plan %+v, want one undo per namespace", plan)
	}
	if f := h.first(plan[0]); len(plan[0].entries) != 1 || f.NetnsIno != b.NetnsIno || f.Old != "128" || f.NetnsOwner == nil {
		t.Errorf("newest namespace: %+v first %+v", plan[0], f)
	}
	if f := h.first(plan[1]); len(plan[1].entries) != 2 || f.NetnsIno != a.NetnsIno || f.Old != "128" || f.NetnsOwner != nil {
		t.Errorf("older namespace with the legacy entry: %+v first %+v", plan[1], f)
	}
}

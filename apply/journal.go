package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Op is what a journal entry does.
type Op string

const (
	OpSet     Op = "set"     // apply or auto raised a knob
	OpRestore Op = "restore" // rollback put an original back
	OpRevert  Op = "revert"  // auto undid a change that did not help
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
	Apply  string    `json:"apply"` // id of the run (apply, rollback or auto)
	Seq    int       `json:"seq"`   // 1-based within the run
	Op     Op        `json:"op"`
	Knob   string    `json:"knob"`
	Netns  string    `json:"netns,omitempty"`
	Old    string    `json:"old"`           // read right before the write
	New    string    `json:"new"`           // the value written
	Got    string    `json:"got,omitempty"` // read back after the write
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
	State  State     `json:"state"`
	Error  string    `json:"error,omitempty"`
	Undoes []Ref     `json:"undoes,omitempty"` // restore/revert: the set entries it undoes
}

func (e *Entry) ref() Ref { return Ref{e.Apply, e.Seq} }

// journal appends entries to the journal file; it is only opened under the lock.
type journal struct{ f *os.File }

// openJournal opens the journal for appending. A partial last line (a crash while writing
// it) is cut off first: its fsync never returned, so the write it announced never happened.
func openJournal(dir string) (*journal, error) {
	path := filepath.Join(dir, journalFile)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read journal: %w", err)
	}
	if keep := int64(bytes.LastIndexByte(data, '\n') + 1); keep != int64(len(data)) {
		if err := f.Truncate(keep); err != nil {
			f.Close()
			return nil, fmt.Errorf("cut partial journal line: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("sync journal: %w", err)
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek journal: %w", err)
	}
	return &journal{f: f}, nil
}

// append writes one line in one write and fsyncs it before returning.
func (j *journal) append(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode journal entry: %w", err)
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	return nil
}

func (j *journal) close() error { return j.f.Close() }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// readJournal returns every entry in file order; a missing journal is empty. A last line
// without its newline is a crash mid-write and is ignored; any other bad line is corruption.
func readJournal(dir string) ([]Entry, error) {
	data, err := os.ReadFile(filepath.Join(dir, journalFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return parseJournal(data)
}

func parseJournal(data []byte) ([]Entry, error) {
	var out []Entry
	for n := 1; len(data) > 0; n++ {
		line, rest, complete := bytes.Cut(data, []byte{'\n'})
		data = rest
		if !complete {
			break // partial trailing line
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrCorruptJournal, n, err)
		}
		if e.Apply == "" || e.Seq <= 0 || e.Knob == "" || (e.Op != OpSet && e.Op != OpRestore && e.Op != OpRevert) {
			return nil, fmt.Errorf("%w: line %d: incomplete entry", ErrCorruptJournal, n)
		}
		out = append(out, e)
	}
	return out, nil
}

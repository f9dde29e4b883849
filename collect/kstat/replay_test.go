package kstat

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
)

// replay answers netlink dumps from captured files: files names the capture for each
// request (or "" for a dump with no answers), keyed by what request says about it.
type replay struct {
	t       *testing.T
	request func(typ uint16, body []byte) string // the capture's key
	files   map[string]string
	dumps   []string // keys of the dumps run
	closed  bool
}

func (r *replay) Dump(typ uint16, body []byte, fn func([]byte) error) (bool, error) {
	key := r.request(typ, body)
	r.dumps = append(r.dumps, key)
	path, ok := r.files[key]
	if !ok {
		return false, unix.EOPNOTSUPP
	}
	if path == "" {
		return false, nil
	}
	for _, m := range diagMessages(r.t, path) {
		if err := fn(m); err != nil {
			return false, err
		}
	}
	return false, nil
}

func (r *replay) Close() error {
	r.closed = true
	return nil
}

// opener hands out the replays by netlink protocol.
func opener(by map[int]*replay) nldump.Opener {
	return func(proto int) (nldump.Dumper, error) {
		if r, ok := by[proto]; ok {
			return r, nil
		}
		return nil, errors.New("no such netlink protocol")
	}
}

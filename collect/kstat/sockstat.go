package kstat

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nettune/nettune/model"
)

// ReadSockstat reads <proc>/thread-self/net/sockstat and sockstat6 of the calling thread's
// network namespace (<proc>/net/... in fixture trees). sockstat6 is absent when IPv6 is
// disabled; that is not an error.
func ReadSockstat(procRoot string) (*model.Sockstat, error) {
	dir := filepath.Join(netRoot(procRoot), "net")
	st := &model.Sockstat{}
	for _, name := range []string{"sockstat", "sockstat6"} {
		err := parseFile(filepath.Join(dir, name), func(r io.Reader) error { return parseSockstat(r, st) })
		if errors.Is(err, fs.ErrNotExist) && name == "sockstat6" {
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// ParseSockstat parses /proc/net/sockstat or sockstat6: one line per protocol, "TCP: inuse 5
// orphan 0 tw 2 alloc 7 mem 3", pairs of name and value after the colon.
func ParseSockstat(r io.Reader) (*model.Sockstat, error) {
	st := &model.Sockstat{}
	if err := parseSockstat(r, st); err != nil {
		return nil, err
	}
	return st, nil
}

// sockstatFields maps "<protocol>.<name>" as the kernel prints it to the field it fills.
// Lines and names not listed (RAW, UDPLITE, names a later kernel adds) are skipped.
func sockstatFields(st *model.Sockstat) map[string]*uint64 {
	return map[string]*uint64{
		"sockets.used": &st.Sockets,
		"TCP.inuse":    &st.TCPInUse, "TCP.orphan": &st.TCPOrphan, "TCP.tw": &st.TCPTimeWait,
		"TCP.alloc": &st.TCPAlloc, "TCP.mem": &st.TCPMem,
		"UDP.inuse": &st.UDPInUse, "UDP.mem": &st.UDPMem,
		"FRAG.inuse": &st.FragInUse, "FRAG.memory": &st.FragMemory,
		"TCP6.inuse": &st.TCP6InUse, "UDP6.inuse": &st.UDP6InUse,
		"FRAG6.inuse": &st.Frag6InUse, "FRAG6.memory": &st.Frag6Memory,
	}
}

func parseSockstat(r io.Reader, st *model.Sockstat) error {
	fields := sockstatFields(st)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		proto, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			if strings.TrimSpace(proto) == "" {
				continue
			}
			return fmt.Errorf("line without protocol: %q", proto)
		}
		f := strings.Fields(rest)
		if len(f)%2 != 0 {
			return fmt.Errorf("%s: %d words, want name value pairs", proto, len(f))
		}
		for i := 0; i < len(f); i += 2 {
			// The memory pools are longs that lag the true use by up to a per-CPU reserve
			// either way (6.0 and later): a negative count is no memory at all.
			v, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", proto, f[i], err)
			}
			if p := fields[proto+"."+f[i]]; p != nil {
				*p = uint64(max(v, 0))
			}
		}
	}
	return sc.Err()
}

// parseFile opens path and hands it to parse, naming the file in a parse error.
func parseFile(path string, parse func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := parse(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

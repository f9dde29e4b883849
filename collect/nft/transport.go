package nft

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"

	"github.com/nettune/nettune/internal/nldump"
)

// transport answers the nftables library's requests with dumps over an nldump.Dumper. Every
// request the reader makes is a GET dump (tables, chains, rules), which the kernel answers
// with NEW messages of the same object.
type transport struct {
	d   nldump.Dumper
	err error // the first error a dump returned
}

func (t *transport) exchange(reqs []netlink.Message) ([]netlink.Message, error) {
	if len(reqs) == 0 {
		return nil, io.EOF // a read with nothing asked: no more messages
	}
	var out []netlink.Message
	for _, req := range reqs {
		answer := netlink.HeaderType(uint16(req.Header.Type) - 1) // NFT_MSG_GETx → NFT_MSG_NEWx
		hdr := netlink.Header{Type: answer, Flags: netlink.Multi, Sequence: req.Header.Sequence, PID: nltest.PID}
		_, err := t.d.Dump(uint16(req.Header.Type), req.Data, func(b []byte) error {
			if len(b) < nfgenmsgLen {
				return errShort
			}
			out = append(out, netlink.Message{Header: hdr, Data: append([]byte(nil), b...)})
			return nil
		})
		if err != nil {
			if t.err == nil {
				t.err = err
			}
			return nil, err
		}
		done := hdr
		done.Type = netlink.Done
		out = append(out, netlink.Message{Header: done, Data: binary.NativeEndian.AppendUint32(nil, 0)})
	}
	return out, nil
}

// nfgenmsgLen is the header every nfnetlink message starts with (family, version, resource id).
const nfgenmsgLen = 4

var errShort = fmt.Errorf("%w: shorter than its header", errMalformed)

// cause is the error behind a failed read: the dump's own when one failed (with its errno),
// else what the library said.
func (t *transport) cause(err error) error {
	if t.err != nil {
		return t.err
	}
	return err
}

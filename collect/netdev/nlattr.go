package netdev

import (
	"encoding/binary"
	"errors"
)

var errAttr = errors.New("malformed netlink attribute")

// walkAttrs calls fn for each netlink attribute in b, with the payload aliasing b.
// mdlayher/netlink's AttributeDecoder would copy every attribute, and a dump of a thousand
// links (some fifty attributes each) plus their qdiscs is the reader's hot path.
func walkAttrs(b []byte, fn func(typ uint16, data []byte)) error {
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		if n < 4 || n > len(b) {
			return errAttr
		}
		fn(binary.NativeEndian.Uint16(b[2:4])&0x3FFF, b[4:n]) // strip NLA_F_NESTED/NET_BYTEORDER
		n = (n + 3) &^ 3
		if n > len(b) {
			return nil // the last attribute needs no padding
		}
		b = b[n:]
	}
	return nil
}

package render

import (
	"slices"
	"testing"

	"github.com/nettune/nettune/policy"
)

func TestGrouped(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "999": "999", "1000": "1,000", "382393": "382,393", "1234567": "1,234,567",
		"60753.5": "60,753.5", "-1643": "-1,643", "+608412": "+608,412", "0.021": "0.021", "82.2": "82.2",
		"1.2e+07": "1.2e+07",
	} {
		if got := grouped(in); got != want {
			t.Errorf("grouped(%q) = %q, want %q", in, got, want)
		}
	}
	if got := rateN(382392.76); got != "382,393" {
		t.Errorf("rateN = %q", got)
	}
	if got := countN(465466); got != "465,466" {
		t.Errorf("countN = %q", got)
	}
}

func TestEvidenceSaidOnce(t *testing.T) {
	got := evidenceLines([]policy.Evidence{
		{Counter: "TcpExt.ListenOverflows", Delta: 1500, Rate: 299, Of: "Tcp.PassiveOpens", Ratio: 0.938},
		{Counter: "TcpExt.ListenDrops", Delta: 1500, Rate: 299, Of: "Tcp.PassiveOpens", Ratio: 0.938},
		{Counter: "listener 0.0.0.0:80 drops", Delta: 1500, Rate: 299, Note: "backlog 16"},
	})
	want := []string{
		"TcpExt.ListenOverflows = TcpExt.ListenDrops +1,500 (299/s, 93.8% of Tcp.PassiveOpens)",
		"listener 0.0.0.0:80 drops +1,500 (299/s); backlog 16",
	}
	if !slices.Equal(got, want) {
		t.Errorf("evidence\n%q\nwant\n%q", got, want)
	}
	if got := unique([]string{"a", "b", "a"}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("unique = %q", got)
	}
	if got := uniqueNote("xdp off: veth; tc: tcx; xdp off: veth"); got != "xdp off: veth; tc: tcx" {
		t.Errorf("uniqueNote = %q", got)
	}
}

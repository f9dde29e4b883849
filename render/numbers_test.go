package render

import "testing"

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

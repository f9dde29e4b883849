package kstat

import "testing"

func TestIRQBalanceRunning(t *testing.T) {
	for root, want := range map[string]bool{
		"testdata/irqbalance/proc": true,
		"testdata/vm-6.18/proc":    false,
	} {
		got, err := IRQBalanceRunning(root)
		if err != nil {
			t.Fatalf("%s: %v", root, err)
		}
		if got != want {
			t.Errorf("%s: %v, want %v", root, got, want)
		}
	}
}

package model

// snmpNotCounters are the /proc/net/snmp fields that are gauges or settings, not counters
// (RFC 1213, RFC 2012): a fall is not a reset, and their difference means nothing.
// /proc/net/netstat and /proc/net/snmp6 hold counters only.
var snmpNotCounters = map[string]bool{
	"Ip.Forwarding":    true, // 1 forwarding, 2 not: a setting
	"Ip.DefaultTTL":    true, // a setting
	"Tcp.RtoAlgorithm": true, // constants of the TCP implementation
	"Tcp.RtoMin":       true,
	"Tcp.RtoMax":       true,
	"Tcp.MaxConn":      true, // -1 (no limit) is not even read
	"Tcp.CurrEstab":    true, // connections established now: a gauge
}

// SNMPNotCounter reports whether an SNMP key ("Tcp.CurrEstab") is a gauge or a constant,
// which model.Diff does not diff.
func SNMPNotCounter(key string) bool { return snmpNotCounters[key] }

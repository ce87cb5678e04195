// Package load is weft's load tool (`weft bench`): scenarios that drive a
// running weft server the way its users do, over real sockets and the public
// protocol, and report throughput and latency percentiles (HDR histograms,
// never averages alone).
//
// Every scenario is bounded in count and time and stops by itself, and it
// refuses any target that is not on the loopback interface: load is only
// ever aimed at this machine.
package load

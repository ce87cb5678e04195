package load

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPU is the CPU time one process used during a scenario's measured phase
// (for broadcast: from the first broadcast sent to the last delivery).
type CPU struct {
	PID           int     `json:"pid"`
	Seconds       float64 `json:"seconds"` // user + system
	UserSeconds   float64 `json:"user_seconds"`
	SystemSeconds float64 `json:"system_seconds"`
	// Cores is Seconds over the phase's wall time: 1.0 is one core busy.
	Cores float64 `json:"cores"`
	// MicrosPerDelivery is Seconds over the deliveries of the phase, in
	// microseconds (0 when the scenario has no deliveries).
	MicrosPerDelivery float64 `json:"us_per_delivery,omitempty"`
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuSample is a process's accumulated user and system CPU time.
type cpuSample struct {
	pid          int
	user, system time.Duration
	at           time.Time
}

// sampleCPU reads utime and stime (every thread of the process) from
// /proc/PID/stat.
func sampleCPU(pid int) (cpuSample, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuSample{}, err
	}
	return parseStat(pid, string(data))
}

func parseStat(pid int, stat string) (cpuSample, error) {
	// The command name (field 2) is in parentheses and may hold spaces:
	// count the fields after its closing one, which starts at field 3.
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return cpuSample{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(stat[end+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return cpuSample{}, errors.New("short /proc stat")
	}
	u, err1 := strconv.ParseInt(f[utime], 10, 64)
	s, err2 := strconv.ParseInt(f[stime], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return cpuSample{}, fmt.Errorf("/proc stat: %w", err)
	}
	tick := time.Second / clockTicks
	return cpuSample{pid: pid, user: time.Duration(u) * tick, system: time.Duration(s) * tick, at: time.Now()}, nil
}

// since is the CPU used from s to now, per delivery when deliveries > 0.
func (s cpuSample) since(now cpuSample, deliveries float64) *CPU {
	user, system := (now.user - s.user).Seconds(), (now.system - s.system).Seconds()
	c := &CPU{PID: s.pid, Seconds: user + system, UserSeconds: user, SystemSeconds: system}
	if wall := now.at.Sub(s.at).Seconds(); wall > 0 {
		c.Cores = c.Seconds / wall
	}
	if deliveries > 0 {
		c.MicrosPerDelivery = c.Seconds * 1e6 / deliveries
	}
	return c
}

// cpuMeter samples the server (when its pid is known) and, when the
// server is another process, this load client, around a measured phase.
type cpuMeter struct {
	server, client *cpuSample
}

func startCPU(t Target) (*cpuMeter, error) {
	m := &cpuMeter{}
	if t.PID <= 0 {
		return m, nil
	}
	s, err := sampleCPU(t.PID)
	if err != nil {
		return nil, fmt.Errorf("server CPU of pid %d: %w", t.PID, err)
	}
	m.server = &s
	if self := os.Getpid(); self != t.PID {
		if c, err := sampleCPU(self); err == nil {
			m.client = &c
		}
	}
	return m, nil
}

// stop fills r.ServerCPU and r.ClientCPU.
func (m *cpuMeter) stop(r *Report, deliveries float64) {
	if m.server != nil {
		if now, err := sampleCPU(m.server.pid); err == nil {
			r.ServerCPU = m.server.since(now, deliveries)
		}
	}
	if m.client != nil {
		if now, err := sampleCPU(m.client.pid); err == nil {
			r.ClientCPU = m.client.since(now, deliveries)
		}
	}
}

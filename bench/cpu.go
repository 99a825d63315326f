package main

import (
	"os"
	"strconv"
	"strings"
)

// Other processes on the machine (a parallel test suite, a build) take CPU
// from the server and the load tool and make figures lower than they
// should be. The harness therefore measures, over the load, how busy the
// whole machine was and how much of that was its own (itself, its reaped
// children, the live servers); the rest is reported as other load.

// cpuSample is one reading, in clock ticks.
type cpuSample struct {
	busy, total, ours int64
	self              int64         // the harness process alone, without children
	db                map[int]int64 // PostgreSQL's processes, by pid
}

func sampleCPU(pids []int) cpuSample {
	var s cpuSample
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		// cpu user nice system idle iowait irq softirq steal ...
		for i := 1; i < len(f) && i <= 8; i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			s.total += v
			if i != 4 && i != 5 { // idle and iowait are not busy
				s.busy += v
			}
		}
	}
	// Self: utime, stime, and cutime, cstime of the reaped children, which
	// includes every server that was killed or stopped.
	s.db = postgresTicks()
	s.self = procTicks("self", 14, 15)
	s.ours = s.self + procTicks("self", 16, 17)
	for _, pid := range pids {
		s.ours += procTicks(strconv.Itoa(pid), 14, 15)
	}
	return s
}

// procTicks sums fields of /proc/PID/stat, numbered as in proc(5): 14
// utime, 15 stime, 16 cutime, 17 cstime.
func procTicks(pid string, fields ...int) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces; fields start after its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	var sum int64
	for _, n := range fields {
		// f[0] is field 3, the state.
		if k := n - 3; k >= 0 && k < len(f) {
			v, _ := strconv.ParseInt(f[k], 10, 64)
			sum += v
		}
	}
	return sum
}

// postgresTicks reads the CPU time of every process named "postgres": a
// PostgreSQL on this machine works for the servers, so its time is shown
// apart, not as other load.
func postgresTicks() map[int]int64 {
	m := map[int]int64{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return m
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		m[pid] = procTicks(e.Name(), 14, 15)
	}
	return m
}

// dbTicks is the PostgreSQL CPU time between two samples (a backend that
// exited in between is missed, one that started is counted whole).
func dbTicks(a, b cpuSample) int64 {
	var sum int64
	for pid, t := range b.db {
		sum += max(0, t-a.db[pid])
	}
	return sum
}

// otherLoad is the share of the machine's capacity that other processes
// used between two samples, from 0 to 1.
func otherLoad(a, b cpuSample) float64 {
	total := b.total - a.total
	if total <= 0 {
		return 0
	}
	other := (b.busy - a.busy) - (b.ours - a.ours) - dbTicks(a, b)
	return max(0, float64(other)/float64(total))
}

// cpuUse is how many cores the servers, the harness and other processes
// kept busy on average between two samples.
type cpuUse struct {
	Servers, Harness, Database, Other float64
}

func coresUsed(a, b cpuSample, ncpu int) cpuUse {
	total := b.total - a.total
	if total <= 0 {
		return cpuUse{}
	}
	cores := func(ticks int64) float64 { return max(0, float64(ticks)*float64(ncpu)/float64(total)) }
	db := dbTicks(a, b)
	return cpuUse{
		Servers:  cores(serverTicks(a, b)),
		Harness:  cores(b.self - a.self),
		Database: cores(db),
		Other:    cores((b.busy - a.busy) - (b.ours - a.ours) - db),
	}
}

// serverTicks is the servers' CPU time between two samples: ours without
// the harness's own.
func serverTicks(a, b cpuSample) int64 { return (b.ours - a.ours) - (b.self - a.self) }
